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
