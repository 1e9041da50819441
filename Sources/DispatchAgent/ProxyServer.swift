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
public struct ProxyServer: Service {
    let proxy: InvocationProxy
    let server: any Service

    public init(proxy: InvocationProxy, host: String, port: Int, idleTimeout: Duration = .seconds(90), logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.proxy = proxy
        server = ProxyChannel(proxy: proxy, idleTimeout: idleTimeout).server(
            configuration: ServerConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger
        )
    }

    public func run() async throws {
        do {
            try await server.run()
        } catch {
            try? await proxy.shutdown()
            throw error
        }
        try await proxy.shutdown()
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
            // No pipelining assistance: it stops reading while a response is pending, and the
            // proxy must read to notice a caller that leaves (the forwarder queues pipelined
            // requests). No outbound header validation: response headers were parsed from the
            // function by llhttp or are the proxy's own (see `UpstreamConnectionPool`).
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true, withOutboundHeaderValidation: false)
            try channel.pipeline.syncOperations.addHandler(ProxyConnectionHandler(idleTimeout: .nanoseconds(idleTimeout.nanoseconds)))
            try channel.pipeline.syncOperations.addHandler(InvocationForwarder(proxy: proxy, resources: proxy.resources(on: channel.eventLoop)))
            return Connection(channel: channel)
        }
    }

    /// The forwarder serves the connection on its event loop; this only waits for its end.
    func handle(value: Connection, logger: Logger) async {
        try? await value.channel.closeFuture.get()
    }
}
