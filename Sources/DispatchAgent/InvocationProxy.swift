import AsyncAlgorithms
import AsyncHTTPClient
import DispatchCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Forwards Direktiv's function calls to the functions and measures them.
///
/// Each connection is served by `serve(_:)`: requests are read one after the other, their
/// target checked (`ProxyTarget`), their bodies streamed to the function with backpressure while
/// a watcher enforces the deadline and idle timeout and notices the caller leaving, and the
/// answer streamed back as it comes.
public final class InvocationProxy: Sendable {
    public struct Settings: Sendable {
        public var connectTimeout: Duration = .seconds(1)
        public var defaultDeadline: Duration = .seconds(300)
        /// Longest pause while body bytes are expected, in either direction.
        public var bodyIdleTimeout: Duration = .seconds(60)
        /// Upstream connections kept per function address.
        public var maximumConnectionsPerHost = 256
        /// When a function answers before the request body has all arrived, a rest up to this
        /// size is read and dropped so the caller's connection stays open; a larger rest closes it.
        public var earlyAnswerDrainLimit: Int64 = 64 * 1024
        public init() {}
    }

    let settings: Settings
    let client: HTTPClient
    let functionsNamespaces: @Sendable () -> [String]
    let directory: @Sendable (String, String) -> FunctionRecord?
    let resolver: FunctionAddressResolver
    let statistics: InvocationStatistics
    let metrics: DispatchMetrics
    let logger: Logger
    private let observers = Mutex<[Int: AsyncStream<InvocationReport>.Continuation]>([:])
    private let nextObserver = Atomic<Int>(0)

    /// A proxy with its own HTTP client (never the shared one: that follows redirects and
    /// decompresses); `shutdown()` it when done.
    public init(
        settings: Settings,
        functionsNamespaces: @escaping @Sendable () -> [String],
        directory: @escaping @Sendable (String, String) -> FunctionRecord?,
        resolver: FunctionAddressResolver,
        statistics: InvocationStatistics,
        metrics: DispatchMetrics,
        logger: Logger
    ) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(settings.connectTimeout.nanoseconds), read: nil),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: settings.maximumConnectionsPerHost),
            decompression: .disabled
        )
        configuration.httpVersion = .http1Only
        // A refused function answers 502 at once; Direktiv retries on its own schedule.
        configuration.connectionPool.retryConnectionEstablishment = false
        self.client = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration, backgroundActivityLogger: logger)
        self.settings = settings
        self.functionsNamespaces = functionsNamespaces
        self.directory = directory
        self.resolver = resolver
        self.statistics = statistics
        self.metrics = metrics
        self.logger = logger
    }

    public func shutdown() async throws {
        for continuation in observers.withLock({ Array($0.values) }) { continuation.finish() }
        try await client.shutdown()
    }

    /// Every invocation finished from now on (refused requests are not invocations).
    public func reports() -> AsyncStream<InvocationReport> {
        let (stream, continuation) = AsyncStream.makeStream(of: InvocationReport.self)
        let id = nextObserver.add(1, ordering: .relaxed).newValue
        observers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in _ = self?.observers.withLock { $0.removeValue(forKey: id) } }
        return stream
    }

    /// Why a call stopped early.
    enum Abort: Error {
        case callerLeft
        case failure(UpstreamFailure)
    }

    /// What happened to one request, for the connection loop.
    struct Outcome {
        /// The caller may send another request on this connection.
        var keepAlive: Bool
    }

    /// Serves one caller connection until it closes.
    func serve(_ channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let remote = channel.channel.remoteAddress?.ipAddress
        let closed = ConnectionClosedSignal(channel: channel.channel)
        do {
            try await channel.executeThenClose { inbound, outbound in
                var parts = inbound.makeAsyncIterator()
                while let part = try await parts.next() {
                    switch part {
                    case .head(let head):
                        let outcome = try await handle(head, parts: &parts, outbound: outbound, channel: channel.channel, remote: remote, closed: closed)
                        guard outcome.keepAlive, head.isKeepAlive else { return }
                    case .end:
                        // The end of a request without a body, answered already.
                        continue
                    case .body:
                        return
                    }
                }
            }
        } catch {
            logger.trace("proxy connection ended", metadata: ["error": "\(error)"])
        }
    }

    private func handle(
        _ head: HTTPRequestHead,
        parts: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        channel: any Channel,
        remote: String?,
        closed: ConnectionClosedSignal
    ) async throws -> Outcome {
        let started = ContinuousClock.now
        let hasBody = head.headers.contains(name: "content-length") && head.headers.first(name: "content-length") != "0" || head.headers.contains(name: "transfer-encoding")
        let target: ProxyTarget
        do {
            target = try ProxyTarget.resolve(method: head.method.rawValue, target: head.uri, hostHeader: head.headers.first(name: "host"), functionsNamespaces: functionsNamespaces())
        } catch {
            metrics.proxyRefused(error)
            try await respond(outbound, head, status: .forbidden, text: "direktiv-dispatch refused the request: \(error)", close: true)
            return Outcome(keepAlive: false)
        }

        let record = directory(target.namespace, target.function)
        let labels = DispatchMetrics.InvocationLabels(
            direktivNamespace: record?.identity.direktivNamespace ?? "unknown",
            function: record == nil ? "unknown" : target.function,
            cluster: record?.cluster ?? "unknown"
        )
        metrics.invocationStarted(cluster: labels.cluster)
        var code = 0
        var failed: UpstreamFailure?
        defer {
            let duration = ContinuousClock.now - started
            // Latency percentiles cover what functions answered; the proxy's own errors and callers
            // that left are in the counters only.
            let answered = failed == nil && code != 499
            let coldStart = answered && statistics.record(cluster: labels.cluster, function: record, duration: duration)
            metrics.invocationFinished(labels, code: code, duration: duration, coldStart: coldStart)
            let observers = observers.withLock { $0.isEmpty ? [] : Array($0.values) }
            if !observers.isEmpty {
                let report = InvocationReport(target: target, labels: labels, code: code, duration: duration, coldStart: coldStart, failure: failed)
                for observer in observers { observer.yield(report) }
            }
        }

        func fail(_ failure: UpstreamFailure, keepAlive: Bool) async throws -> Outcome {
            metrics.upstreamError(cluster: labels.cluster, reason: failure)
            failed = failure
            code = Int(failure.status.code)
            try await respond(outbound, head, status: failure.status, text: "direktiv-dispatch: \(target.canonicalHost): \(failure.explanation)", close: !keepAlive)
            return Outcome(keepAlive: keepAlive)
        }

        guard case .address(let host, let port) = resolver.resolve(target) else {
            return try await fail(.unresolvable, keepAlive: !hasBody)
        }
        let remaining = DirektivDeadline.remaining(head.headers.first(name: "direktiv-deadline")) ?? settings.defaultDeadline
        guard remaining > .zero else { return try await fail(.deadline, keepAlive: !hasBody) }

        if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .continue)))
        }

        var request = HTTPClientRequest(url: "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(target.pathAndQuery)")
        request.method = head.method
        request.headers = ProxyHeaders.upstream(head.headers, host: target.host, client: remote)
        // A rendezvous: the caller's socket is read no faster than the function takes the body.
        let body = AsyncThrowingChannel<ByteBuffer, any Error>()
        let declaredLength = head.headers.first(name: "content-length").flatMap(Int64.init)
        if let length = declaredLength {
            request.body = length == 0 ? .bytes(ByteBuffer()) : .stream(body, length: .known(length))
        } else if head.headers.contains(name: "transfer-encoding") {
            request.body = .stream(body, length: .unknown)
        }

        let progress = InvocationProgress(clock: InvocationClock(start: started, deadline: started + remaining, idleTimeout: settings.bodyIdleTimeout))
        if !hasBody { progress.withLock { $0.requestEnded = true } }
        let client = client
        let upstreamRequest = request
        let keepAlive = head.isKeepAlive
        let drainLimit = settings.earlyAnswerDrainLimit
        var requestComplete = !hasBody

        var result: Result<HTTPResponseStatus, Abort> = await withTaskGroup(of: Result<HTTPResponseStatus, Abort>?.self) { group in
            group.addTask {
                // Whatever ends the call, a pump still waiting to hand over body bytes must wake up.
                defer {
                    progress.withLock { $0.forwardEnded = true }
                    body.finish()
                }
                do {
                    let response = try await client.execute(upstreamRequest, deadline: .now() + .nanoseconds(remaining.nanoseconds), logger: nil)
                    var responseHead = HTTPResponseHead(version: head.version, status: response.status, headers: ProxyHeaders.downstream(response.headers))
                    if !keepAlive { responseHead.headers.replaceOrAdd(name: "connection", value: "close") }
                    progress.withLock { $0.headWritten(at: .now) }
                    // The head goes out with the first body bytes (or the end): one write
                    // instead of two for the usual small answer.
                    var head: HTTPServerResponsePart? = .head(responseHead)
                    for try await chunk in response.body {
                        if let pending = head {
                            try await outbound.write(contentsOf: [pending, .body(.byteBuffer(chunk))])
                            head = nil
                        } else {
                            try await outbound.write(.body(.byteBuffer(chunk)))
                        }
                        progress.withLock { $0.clock.activity(at: .now) }
                    }
                    // The function answered before the caller finished sending (functions may
                    // answer on the head alone): a small rest is read and dropped, a large one
                    // is not read, and the connection ends with this response.
                    let closeAfter = progress.withLock { progress -> Bool in
                        guard !progress.requestEnded else { return false }
                        if let declaredLength, declaredLength - progress.forwarded <= drainLimit {
                            progress.draining = true
                            return false
                        }
                        return true
                    }
                    if closeAfter {
                        try await channel.triggerUserOutboundEvent(ProxyConnectionHandler.CloseAfterResponse()).get()
                    }
                    try await outbound.write(contentsOf: (head.map { [$0] } ?? []) + [.end(nil)])
                    // A drain is still body bytes to wait for: the idle timeout keeps watching it.
                    progress.withLock { $0.clock.activity(at: .now, phase: $0.draining ? .sendingBody : .finished) }
                    return .success(response.status)
                } catch {
                    return .failure(.failure(UpstreamFailure(error)))
                }
            }
            group.addTask {
                while true {
                    let wake = progress.withLock { $0.clock.nextCheck() }
                    if await closed.wait(until: wake) { return .failure(.callerLeft) }
                    if Task.isCancelled { return nil }
                    let (expired, uploading) = progress.withLock { progress in
                        progress.expiry = progress.clock.expired(at: .now)
                        return (progress.expiry, !progress.requestEnded)
                    }
                    if let expired {
                        // A pump waiting for body bytes that do not come must see its input end;
                        // the call it then fails still counts as this timeout (`expiry`).
                        if uploading { try? await channel.triggerUserOutboundEvent(ProxyConnectionHandler.StopReading()).get() }
                        return .failure(.failure(expired))
                    }
                }
            }
            // The caller's body goes upstream as it arrives; `yield` waits while the function is slower.
            if !requestComplete {
                do {
                    pump: while let part = try await parts.next() {
                        switch part {
                        case .body(let buffer):
                            // With the last byte the request is complete, before its `.end` is
                            // read: a function answering at once must not look like an early answer.
                            let (last, draining) = progress.withLock { progress in
                                progress.forwarded += Int64(buffer.readableBytes)
                                progress.clock.activity(at: .now)
                                let last = declaredLength.map { progress.forwarded >= $0 } ?? false
                                if last { progress.requestEnded = true }
                                return (last, progress.draining)
                            }
                            // A rest read after the answer is dropped, not handed to the finished call.
                            if !draining { await body.send(buffer) }
                            // The function answered without reading everything and the rest is
                            // too large to drop: stop here; the connection closes.
                            if !last, progress.withLock({ $0.forwardEnded && !$0.draining }) { break pump }
                        case .end:
                            requestComplete = true
                            progress.withLock { $0.requestEnded = true }
                            break pump
                        case .head:
                            break pump
                        }
                    }
                } catch {}
                if requestComplete {
                    body.finish()
                    progress.withLock { $0.clock.activity(at: .now, phase: .awaitingHead) }
                } else {
                    body.fail(Abort.callerLeft)
                }
            } else {
                progress.withLock { $0.clock.activity(at: .now, phase: .awaitingHead) }
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
            }
            return .failure(.callerLeft)
        }

        let (headWritten, expiry) = progress.withLock { ($0.headWritten, $0.expiry) }
        if case .failure(.failure) = result, let expiry { result = .failure(.failure(expiry)) }
        if case .failure(.failure) = result, closed.isClosed { result = .failure(.callerLeft) }
        switch result {
        case .success(let status):
            code = Int(status.code)
            return Outcome(keepAlive: requestComplete)
        case .failure(.callerLeft):
            // nginx's convention for a caller that left before its answer.
            code = 499
            return Outcome(keepAlive: false)
        case .failure(.failure(let failure)):
            if headWritten {
                // The status is on its way already; cutting the connection tells the caller.
                metrics.upstreamError(cluster: labels.cluster, reason: failure)
                failed = failure
                code = Int(failure.status.code)
                return Outcome(keepAlive: false)
            }
            return try await fail(failure, keepAlive: false)
        }
    }

    private func respond(_ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, _ request: HTTPRequestHead, status: HTTPResponseStatus, text: String, close: Bool) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        headers.add(name: "content-length", value: String(text.utf8.count + 1))
        if close { headers.add(name: "connection", value: "close") }
        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
        if request.method != .HEAD {
            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text + "\n"))))
        }
        try await outbound.write(.end(nil))
    }
}

/// One finished invocation, as the proxy measured it.
public struct InvocationReport: Sendable, Hashable {
    public var target: ProxyTarget
    public var labels: DispatchMetrics.InvocationLabels
    /// The status the caller received; 499 when the caller left first.
    public var code: Int
    public var duration: Duration
    public var coldStart: Bool
    /// Why the proxy answered itself or cut the call, if it did.
    public var failure: UpstreamFailure?
}

/// How far one call has come, shared by its forwarding task and its watcher.
final class InvocationProgress: Sendable {
    struct State {
        var clock: InvocationClock
        var headWritten = false
        var forwardEnded = false
        var requestEnded = false
        /// Request body bytes read from the caller.
        var forwarded: Int64 = 0
        /// The function has answered; the rest of the request body is read and dropped.
        var draining = false
        /// The deadline or idle timeout that ended the call, when one did.
        var expiry: UpstreamFailure?

        mutating func headWritten(at now: ContinuousClock.Instant) {
            headWritten = true
            clock.activity(at: now, phase: .receivingBody)
        }
    }

    private let state: Mutex<State>

    init(clock: InvocationClock) {
        state = Mutex(State(clock: clock))
    }

    func withLock<T>(_ body: (inout State) -> T) -> T {
        state.withLock { body(&$0) }
    }
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

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
