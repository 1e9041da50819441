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
/// for the proxy alone (`threads`). More loops than cores measured a lower p99 under many
/// concurrent calls (see BENCHMARKS.md), so the default is twice the core count.
public struct ProxyServer: Service {
    let proxy: InvocationProxy
    let server: any Service
    let eventLoopGroup: MultiThreadedEventLoopGroup

    /// The default number of proxy event loops: twice the cores the process may use.
    public static var defaultThreads: Int { 2 * System.coreCount }

    public init(
        proxy: InvocationProxy, host: String, port: Int, threads: Int = ProxyServer.defaultThreads, idleTimeout: Duration = .seconds(90), logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.proxy = proxy
        eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        server = ProxyChannel(proxy: proxy, idleTimeout: idleTimeout).server(
            configuration: ServerConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            eventLoopGroup: eventLoopGroup,
            logger: logger
        )
    }

    public func run() async throws {
        do {
            try await server.run()
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    /// Closes the pooled upstream connections, then the loops they lived on.
    private func stop() async {
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
            let idle = TimeAmount.nanoseconds(idleTimeout.nanoseconds)
            try channel.pipeline.syncOperations.addHandler(InvocationForwarder(proxy: proxy, resources: proxy.resources(on: channel.eventLoop), idleTimeout: idle))
            return Connection(channel: channel)
        }
    }

    /// The forwarder serves the connection on its event loop; this only waits for its end.
    func handle(value: Connection, logger: Logger) async {
        try? await value.channel.closeFuture.get()
    }
}
