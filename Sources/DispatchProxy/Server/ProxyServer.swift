import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The invocation proxy's listener: plain HTTP/1.1 connections served by `InvocationProxy`.
///
/// A Hummingbird server with its own child channel rather than a router: a forward proxy needs
/// the request-target exactly as sent (absolute form), and each connection's lifetime, to cancel
/// a call when its caller leaves. Calls are forwarded by channel handlers on the connection's
/// event loop (`InvocationForwarder`), not by a task per request.
///
/// The proxy runs on its own event loops, not NIO's shared ones: the Kubernetes client, the
/// webhook and the admin server then never delay a proxied call, and the number of loops is set
/// for the proxy alone (`threads`). The default is one loop per core: on 2 cores, 2 loops served
/// as many requests as 3 or 4 and had the lowest p99 at 64 connections, since a loop never waits
/// for a core behind another loop (BENCHMARKS.md). Where the process owns exactly that many
/// CPUs, each loop is pinned to one of them (`ProxyCPUAffinity`).
public struct ProxyServer: Service {
    let proxy: InvocationProxy
    let host: String
    let port: Int
    let threads: Int
    let cpuAffinity: ProxyCPUAffinity
    let idleTimeout: Duration
    let logger: Logger
    let onRunning: @Sendable (Int) async -> Void

    /// The default number of proxy event loops: one per core the process may use.
    public static var defaultThreads: Int { System.coreCount }

    public init(
        proxy: InvocationProxy, host: String, port: Int, threads: Int = ProxyServer.defaultThreads, cpuAffinity: ProxyCPUAffinity = .auto,
        idleTimeout: Duration = .seconds(90), logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        precondition(threads > 0, "the proxy needs at least one event loop")
        self.proxy = proxy
        self.host = host
        self.port = port
        self.threads = threads
        self.cpuAffinity = cpuAffinity
        self.idleTimeout = idleTimeout
        self.logger = logger
        self.onRunning = onRunning
    }

    /// Serves on loops of its own until a graceful shutdown; then closes the pooled upstream
    /// connections, then the loops they lived on.
    public func run() async throws {
        let (eventLoopGroup, pinned) = Self.makeEventLoopGroup(threads: threads, cpuAffinity: cpuAffinity)
        if let pinned {
            logger.info("proxy event loops pinned to CPUs", metadata: ["cpus": "\(pinned.map(String.init).joined(separator: ","))"])
        }
        let server = ProxyChannel(proxy: proxy, idleTimeout: idleTimeout).server(
            configuration: ServerConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { [onRunning, port] channel in await onRunning(channel.localAddress?.port ?? port) },
            eventLoopGroup: eventLoopGroup,
            logger: logger
        )
        do {
            try await server.run()
        } catch {
            await stop(eventLoopGroup)
            throw error
        }
        await stop(eventLoopGroup)
    }

    /// The proxy's event loops, pinned to CPUs where `cpuAffinity` says so; also returns the
    /// CPUs, in loop order, when they are pinned.
    static func makeEventLoopGroup(threads: Int, cpuAffinity: ProxyCPUAffinity) -> (MultiThreadedEventLoopGroup, pinned: [Int]?) {
        #if os(Linux)
        if let cpus = cpuAffinity.pinnedCPUs(loops: threads, allowedCPUs: ProxyCPUAffinity.allowedCPUs()) {
            return (MultiThreadedEventLoopGroup(pinnedCPUIDs: cpus), cpus)
        }
        #endif
        return (MultiThreadedEventLoopGroup(numberOfThreads: threads), nil)
    }

    private func stop(_ eventLoopGroup: MultiThreadedEventLoopGroup) async {
        try? await proxy.shutdown()
        try? await eventLoopGroup.shutdownGracefully()
    }
}

/// Sets up each accepted connection: HTTP/1.1 codec, connection lifetime, the forwarder.
struct ProxyChannel: ServerChildChannel {
    struct Connection: ServerChildChannelValue {
        let channel: any Channel
    }

    let proxy: InvocationProxy
    let idleTimeout: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Connection> {
        channel.eventLoop.makeCompletedFuture {
            // Bytes in, bytes out: the forwarder reads HTTP/1.1 itself, so that heads and bodies
            // pass as they came (see `InvocationForwarder`).
            let idle = TimeAmount(idleTimeout)
            try channel.pipeline.syncOperations.addHandler(
                InvocationForwarder(proxy: proxy, resources: proxy.resources(on: channel.eventLoop), idleTimeout: idle))
            return Connection(channel: channel)
        }
    }

    /// The forwarder serves the connection on its event loop; this only waits for its end.
    func handle(value: Connection, logger: Logger) async {
        try? await value.channel.closeFuture.get()
    }
}
