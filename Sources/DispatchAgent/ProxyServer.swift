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
/// a call when its caller leaves.
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

/// Sets up each accepted connection: HTTP/1.1 codec, connection lifetime, async channel.
struct ProxyChannel: ServerChildChannel {
    typealias Value = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    let proxy: InvocationProxy
    let idleTimeout: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // No pipelining assistance: it stops reading while a response is pending, and the
            // proxy must read to notice a caller that leaves.
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(ProxyConnectionHandler(idleTimeout: .nanoseconds(idleTimeout.nanoseconds)))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: false))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await proxy.serve(value)
    }
}
