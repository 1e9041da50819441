import DispatchCore
import DispatchMetrics
import Logging
import NIOCore
import Synchronization

/// Forwards Direktiv's function calls to the functions and measures them.
///
/// The shared part of the proxy: settings, where functions are, the per-event-loop upstream
/// connection pools, metrics, and the reports of finished calls. Each caller connection is
/// served by an `InvocationForwarder` on its event loop (see `ProxyServer`).
///
/// The upstream side is the proxy's own: `UpstreamConnection` handlers that write bytes and read
/// answers with the same `HTTPHead` and `HTTPBodyFraming` as the caller side, in per-event-loop
/// keep-alive pools, not AsyncHTTPClient: a call then never leaves its event loop (no task, lock
/// or thread hop per call), and nothing can follow a redirect or decompress a body. With AsyncHTTPClient the proxy
/// reached 0.21-0.38x nginx's throughput (BENCHMARKS.md).
public final class InvocationProxy: Sendable {
    public struct Settings: Sendable {
        public var connectTimeout: Duration = .seconds(1)
        public var defaultDeadline: Duration = .seconds(300)
        /// The longest any call may run, whatever its `Direktiv-Deadline` asks: the graceful
        /// shutdown drains at least this long, so a rollout never cuts a call Direktiv would
        /// then run again.
        public var longestCall: Duration = .seconds(600)
        /// Longest pause while body bytes are expected, in either direction.
        public var bodyIdleTimeout: Duration = .seconds(60)
        /// Idle keep-alive connections kept per function address and event loop.
        public var maximumIdleConnectionsPerHost = 256
        /// How long an unused upstream connection is kept.
        public var upstreamIdleTimeout: Duration = .seconds(60)
        /// When a function answers before the request body has all arrived, a rest up to this
        /// size is read and dropped so the caller's connection stays open; a larger rest closes it.
        public var earlyAnswerDrainLimit: Int64 = 64 * 1024
        /// Request body bytes held to send again when a reused connection turns out closed.
        public var replayLimit = 64 * 1024
        public init() {}
    }

    let settings: Settings
    let functionsNamespaces: Published<[String]>
    let directory: @Sendable (String, String) -> FunctionRecord?
    let resolver: FunctionAddressResolver
    let statistics: InvocationStatistics
    let metrics: DispatchMetrics
    let logger: Logger
    private let loops = Mutex<[ObjectIdentifier: NIOLoopBound<LoopResources>]>([:])
    private let observers = Mutex<[Int: AsyncStream<InvocationReport>.Continuation]>([:])
    private let nextObserver = Atomic<Int>(0)
    private let hasObservers = Atomic<Bool>(false)

    public init(
        settings: Settings,
        functionsNamespaces: Published<[String]>,
        directory: @escaping @Sendable (String, String) -> FunctionRecord?,
        resolver: FunctionAddressResolver,
        statistics: InvocationStatistics,
        metrics: DispatchMetrics,
        logger: Logger
    ) {
        self.settings = settings
        self.functionsNamespaces = functionsNamespaces
        self.directory = directory
        self.resolver = resolver
        self.statistics = statistics
        self.metrics = metrics
        self.logger = logger
    }

    /// What the calls of one event loop share without locks: upstream connections, resolved targets and metric handles.
    final class LoopResources {
        let pool: UpstreamConnectionPool
        var targets = ProxyTargetCache()
        private let metrics: DispatchMetrics
        private var meters: [DispatchMetrics.InvocationLabels: DispatchMetrics.InvocationMeters] = [:]
        /// The handles used last: calls repeat, and comparing labels that share their strings
        /// costs less than hashing them.
        private var lastMeters: DispatchMetrics.InvocationMeters?

        init(pool: UpstreamConnectionPool, metrics: DispatchMetrics) {
            self.pool = pool
            self.metrics = metrics
        }

        /// The handles for `labels`; their number is bounded by the functions the agent knows.
        func meters(_ labels: DispatchMetrics.InvocationLabels) -> DispatchMetrics.InvocationMeters {
            if let lastMeters, lastMeters.labels == labels { return lastMeters }
            let found: DispatchMetrics.InvocationMeters
            if let kept = meters[labels] {
                found = kept
            } else {
                // Functions come and go: a long-lived agent starts over rather than keep the departed.
                if meters.count >= 10_000 { meters = [:] }
                found = metrics.invocationMeters(labels)
                meters[labels] = found
            }
            lastMeters = found
            return found
        }
    }

    /// The shared resources of `eventLoop`; call on that loop.
    func resources(on eventLoop: any EventLoop) -> LoopResources {
        eventLoop.preconditionInEventLoop()
        let settings = UpstreamConnectionPool.Settings(
            connectTimeout: TimeAmount(self.settings.connectTimeout),
            idleTimeout: TimeAmount(self.settings.upstreamIdleTimeout),
            maximumIdlePerHost: self.settings.maximumIdleConnectionsPerHost
        )
        return loops.withLock { loops in
            let id = ObjectIdentifier(eventLoop)
            if let resources = loops[id] { return resources.value }
            let resources = LoopResources(pool: UpstreamConnectionPool(eventLoop: eventLoop, settings: settings), metrics: metrics)
            loops[id] = NIOLoopBound(resources, eventLoop: eventLoop)
            return resources
        }
    }

    /// Closes the idle upstream connections; connections in use close when their calls end.
    public func shutdown() async throws {
        for continuation in observers.withLock({ Array($0.values) }) { continuation.finish() }
        let loops = loops.withLock { Array($0.values) }
        for resources in loops {
            try await resources.eventLoop.submit { resources.value.pool.shutDown() }.get()
        }
    }

    /// Every invocation finished from now on (refused requests are not invocations).
    func reports() -> AsyncStream<InvocationReport> {
        let (stream, continuation) = AsyncStream.makeStream(of: InvocationReport.self)
        let id = nextObserver.add(1, ordering: .relaxed).newValue
        observers.withLock {
            $0[id] = continuation
            hasObservers.store(true, ordering: .relaxed)
        }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            observers.withLock {
                $0.removeValue(forKey: id)
                hasObservers.store(!$0.isEmpty, ordering: .relaxed)
            }
        }
        return stream
    }

    /// Records a finished call: metrics, latency statistics, reports.
    func finished(_ call: InvocationForwarder.Call) {
        let duration = ContinuousClock.now - call.started
        // Latency percentiles cover what functions answered; the proxy's own errors and callers
        // that left are in the counters only.
        let answered = call.failure == nil && call.code != 499
        let coldStart = answered && statistics.record(cluster: call.labels.cluster, function: call.record, duration: duration)
        call.meters.finished(code: call.code, duration: duration, coldStart: coldStart)
        guard hasObservers.load(ordering: .relaxed) else { return }
        let report = InvocationReport(
            target: call.target, labels: call.labels, code: call.code, duration: duration, coldStart: coldStart, failure: call.failure)
        for observer in observers.withLock({ Array($0.values) }) { observer.yield(report) }
    }
}

/// One finished invocation, as the proxy measured it.
struct InvocationReport: Sendable, Hashable {
    var target: ProxyTarget
    var labels: DispatchMetrics.InvocationLabels
    /// The status the caller received; 499 when the caller left first.
    var code: Int
    var duration: Duration
    var coldStart: Bool
    /// Why the proxy answered itself or cut the call, if it did.
    var failure: UpstreamFailure?
}

extension UpstreamFailure {
    /// A sentence for the caller's error body.
    var explanation: String {
        switch self {
        case .refused: "connection refused"
        case .unresolvable: "no such host"
        case .connectTimeout: "no connection within the connect timeout"
        case .deadline: "the deadline passed"
        case .idleTimeout: "no data within the body idle timeout"
        case .upstreamClosed: "the function closed the connection"
        case .other: "the function could not be reached"
        }
    }
}
