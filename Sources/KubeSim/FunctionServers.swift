import HTTPTypes
import Hummingbird
import KubeModels
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Function endpoints of the simulated clusters, answering like Direktiv's sidecar.
///
/// Each cluster listens on its own loopback address (`127.0.10.1` for the first cluster,
/// `.2` for the next...) and adds its latency to every answer, standing in for the WAN between
/// Liqo peers. A call is served by the cluster running the function's pods; an endpoint asked
/// for a function it does not run (its pods moved or its peer went away) answers 503.
///
/// Besides Direktiv's contract (echo of the body, `Direktiv-ActionID`, 411 without a length,
/// 413 above 128 MiB, `/up`, `/cancel`), tests steer answers with request headers:
/// `Kubesim-Status` (answer with this status), `Kubesim-Delay-Ms` (extra latency),
/// `Kubesim-Error-Code`/`Kubesim-Error-Message` (a Direktiv action error) and
/// `Kubesim-Stall-Ms` (send half the body, pause, then the rest); `/kubesim/headers` answers
/// with the request's headers as JSON. Every answer says which cluster served it in
/// `Kubesim-Cluster`.
public final class FunctionServers: Service, Sendable {
    public struct Options: Sendable {
        /// Added to every answer, per cluster.
        public var latency: [String: Duration] = ["main": .milliseconds(1), "external1": .milliseconds(15), "external2": .milliseconds(40)]
        public var defaultLatency: Duration = .milliseconds(1)
        /// Listed first among the clusters.
        public var mainCluster = "main"
        /// Where each cluster listens; `127.0.10.<n>` by default.
        public var addresses: [String: String] = [:]
        public var port = 0
        public var clusterLabel = "direktiv.io/namespace"
        public var maximumBodyBytes = 128 << 20
        public init() {}
    }

    public let clusters: [String]
    let options: Options
    private let store: ObjectStore
    private let logger: Logger
    private let routesCache = Mutex<(version: String, routes: FunctionRoutes)?>(nil)
    /// Each cluster's Connection latency (nil: none) at a store version.
    private let latencyCache = Mutex<(version: String, latencies: [String: Duration?])?>(nil)
    private let bound = Mutex<(endpoints: [String: String], waiters: [CheckedContinuation<[String: String], Never>])>(([:], []))
    private let observers = Mutex<[Int: AsyncStream<ServedRequest>.Continuation]>([:])
    private let nextObserver = Atomic<Int>(0)

    /// A request that reached a function endpoint.
    public struct ServedRequest: Sendable, Hashable {
        public var cluster: String
        public var host: String
        public var method: String
        public var path: String
    }

    /// Every request reaching any endpoint from now on.
    public func requests() -> AsyncStream<ServedRequest> {
        let (stream, continuation) = AsyncStream.makeStream(of: ServedRequest.self)
        let id = nextObserver.add(1, ordering: .relaxed).newValue
        observers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in _ = self?.observers.withLock { $0.removeValue(forKey: id) } }
        return stream
    }

    func observed(_ request: ServedRequest) {
        for continuation in observers.withLock({ Array($0.values) }) { continuation.yield(request) }
    }

    public init(store: ObjectStore, clusters: [String], options: Options = Options(), logger: Logger) {
        self.store = store
        self.clusters = clusters
        self.options = options
        self.logger = logger
    }

    /// The clusters named by the nodes' cluster label, `mainCluster` first.
    public static func clusters(in store: ObjectStore, options: Options = Options()) -> [String] {
        let names = Set(((try? store.list(.nodes).items) ?? []).compactMap { $0[path: "metadata", "labels", options.clusterLabel]?.stringValue })
        return names.sorted { ($0 == options.mainCluster ? 0 : 1, $0) < ($1 == options.mainCluster ? 0 : 1, $1) }
    }

    public func address(of cluster: String) -> String {
        options.addresses[cluster] ?? "127.0.10.\((clusters.firstIndex(of: cluster) ?? 0) + 1)"
    }

    /// The delay added to every answer from `cluster`: what its Liqo Connection reports (so that
    /// changing it, `POST /kubesim/v1/peers/<cluster>/latency`, changes both), else the option.
    public func latency(of cluster: String) -> Duration {
        if let measured = connectionLatency(of: cluster) { return measured }
        return options.latency[cluster] ?? options.defaultLatency
    }

    /// What the cluster's Connection reports; read from the store once per change of it, not per answer.
    private func connectionLatency(of cluster: String) -> Duration? {
        let version = store.currentResourceVersion
        if let cached = latencyCache.withLock({ $0 }), cached.version == version, let known = cached.latencies[cluster] { return known }
        var measured: Duration?
        for connection in KubeSim.connections(of: cluster, in: store, clusterLabel: options.clusterLabel) {
            guard let text = connection[path: "status", "latency", "value"]?.stringValue, text.hasSuffix("ms"), let value = Double(text.dropLast(2)),
                value.isFinite, (0...60_000).contains(value)
            else { continue }
            measured = .microseconds(Int64(value * 1000))
            break
        }
        latencyCache.withLock { cache in
            var latencies = cache?.version == version ? cache?.latencies ?? [:] : [:]
            latencies[cluster] = measured
            cache = (version, latencies)
        }
        return measured
    }

    /// `host:port` per cluster, once every server listens.
    public func running() async -> [String: String] {
        await withCheckedContinuation { continuation in
            let ready = bound.withLock { state -> [String: String]? in
                if state.endpoints.count == clusters.count { return state.endpoints }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private var endpoints: [String: String] { bound.withLock { $0.endpoints } }

    var routes: FunctionRoutes {
        let version = store.currentResourceVersion
        if let cached = routesCache.withLock({ $0 }), cached.version == version { return cached.routes }
        let routes = FunctionRoutes.build(store: store, clusterLabel: options.clusterLabel)
        routesCache.withLock { $0 = (version, routes) }
        return routes
    }

    /// The endpoint for a function host (any of Direktiv's three forms): that of the cluster
    /// running its pods, or `nil` while none runs, which the caller sees as "no such host", the
    /// failure Direktiv already treats as "scaled to zero, retry".
    public func resolve(_ host: String) -> String? {
        guard let canonical = FunctionRoutes.canonicalHost(host), let cluster = routes.routes[canonical]?.servingClusters.first else { return nil }
        return endpoints[cluster]
    }

    /// Every function host with its endpoint, for `sim --resolver-out`.
    public func resolverTable() -> [String: String] {
        let endpoints = endpoints
        var table: [String: String] = [:]
        for (host, route) in routes.routes {
            if let cluster = route.servingClusters.first, let endpoint = endpoints[cluster] { table[host] = endpoint }
        }
        return table
    }

    private func listening(_ cluster: String, at endpoint: String) {
        let (endpoints, waiters) = bound.withLock { state -> ([String: String], [CheckedContinuation<[String: String], Never>]) in
            state.endpoints[cluster] = endpoint
            guard state.endpoints.count == clusters.count else { return (state.endpoints, []) }
            defer { state.waiters = [] }
            return (state.endpoints, state.waiters)
        }
        for waiter in waiters { waiter.resume(returning: endpoints) }
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for cluster in clusters {
                let host = address(of: cluster)
                let application = Application(
                    responder: FunctionServerResponder(servers: self, cluster: cluster),
                    configuration: ApplicationConfiguration(address: .hostname(host, port: options.port), serverName: "kubesim-function-\(cluster)"),
                    onServerRunning: { channel in self.listening(cluster, at: "\(host):\(channel.localAddress?.port ?? 0)") },
                    logger: logger
                )
                group.addTask { try await application.run() }
            }
        }
        for continuation in observers.withLock({ Array($0.values) }) { continuation.finish() }
    }

    /// Whether `cluster` serves `host` now.
    func serves(_ host: String, on cluster: String) -> Bool {
        guard let canonical = FunctionRoutes.canonicalHost(host) else { return false }
        return routes.routes[canonical]?.servingClusters.contains(cluster) == true
    }
}

/// One cluster's function endpoint.
struct FunctionServerResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let servers: FunctionServers
    let cluster: String

    static let actionID = HTTPField.Name("Direktiv-ActionID")!
    static let errorCode = HTTPField.Name("Direktiv-ErrorCode")!
    static let errorMessage = HTTPField.Name("Direktiv-ErrorMessage")!
    static let servedBy = HTTPField.Name("Kubesim-Cluster")!
    static let forceStatus = HTTPField.Name("Kubesim-Status")!
    static let delay = HTTPField.Name("Kubesim-Delay-Ms")!
    static let askedErrorCode = HTTPField.Name("Kubesim-Error-Code")!
    static let askedErrorMessage = HTTPField.Name("Kubesim-Error-Message")!
    static let stall = HTTPField.Name("Kubesim-Stall-Ms")!

    func respond(to request: Request, context: Context) async throws -> Response {
        var headers: HTTPFields = [Self.servedBy: cluster]
        if let actionID = request.headers[Self.actionID] { headers[Self.actionID] = actionID }
        let host = request.head.authority ?? ""
        servers.observed(.init(cluster: cluster, host: host, method: request.method.rawValue, path: request.uri.path))
        if request.uri.path == "/kubesim/headers" {
            // Test helper: the request's headers as received, in order.
            let received = JSONValue.array(
                request.headers.map { .array([.string($0.name.rawName), .string($0.value)]) } + [.array(["Host", .string(host)])])
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: received.jsonBytes)))
        }
        guard servers.serves(host, on: cluster) else {
            return text(.serviceUnavailable, "no ready pods for \(host) on \(cluster)", headers)
        }
        var wait = servers.latency(of: cluster)
        if let extra = request.headers[Self.delay].flatMap(Int.init) { wait += .milliseconds(extra) }
        try await Task.sleep(for: wait)

        if let forced = request.headers[Self.forceStatus].flatMap(Int.init) {
            return text(HTTPResponse.Status(code: forced), "status \(forced) as asked", headers)
        }
        switch (request.method, request.uri.path) {
        case (.get, "/up"):
            return text(.ok, "up", headers)
        case (.post, "/cancel"):
            return text(.ok, "cancelled", headers)
        case (.post, "/"):
            break
        default:
            return text(.notFound, "\(request.method) \(request.uri.path) is not an action endpoint", headers)
        }
        guard let length = request.headers[.contentLength].flatMap(Int.init), length > 0 else {
            return text(.lengthRequired, "the action needs a body with a Content-Length", headers)
        }
        guard length <= servers.options.maximumBodyBytes else {
            return text(.contentTooLarge, "the body exceeds \(servers.options.maximumBodyBytes) bytes", headers)
        }
        if let code = request.headers[Self.askedErrorCode] {
            headers[Self.errorCode] = code
            headers[Self.errorMessage] = request.headers[Self.askedErrorMessage] ?? "the action failed as asked"
        }
        headers[.contentLength] = String(length)
        if let type = request.headers[.contentType] { headers[.contentType] = type }
        let stall = request.headers[Self.stall].flatMap(Int.init).map { Duration.milliseconds($0) }
        let body = request.body
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                var written = 0
                var stalled = false
                for try await buffer in body {
                    try await writer.write(buffer)
                    written += buffer.readableBytes
                    if let stall, !stalled, written >= length / 2 {
                        stalled = true
                        try await Task.sleep(for: stall)
                    }
                }
                try await writer.finish(nil)
            })
    }

    private func text(_ status: HTTPResponse.Status, _ message: String, _ headers: HTTPFields) -> Response {
        var headers = headers
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}
