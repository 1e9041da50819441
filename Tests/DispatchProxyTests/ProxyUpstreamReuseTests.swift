import DispatchAgent
import DispatchMetrics
import DispatchPrometheus
import KubeSim
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TestSupport
import Testing

@testable import DispatchProxy

/// Pooled upstream connections: a keep-alive connection the function closes as a call goes
/// out is retried once on a fresh one, and only then, and only for a method that may be sent
/// twice.
@Suite(.serialized) struct ProxyUpstreamReuseTests {
    static let namespace = Scenario.functionsNamespace

    func withProxy(to upstream: ForgetfulUpstream, _ body: (AgentHarness) async throws -> Void) async throws {
        let port = upstream.port
        let resolver = FunctionAddressResolver.table { host in host.hasPrefix("forgetful.") ? "127.0.0.1:\(port)" : nil }
        let sim = try await SimHarness.start(functions: FunctionServers.Options())
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), resolver: resolver)
        try await withTeardown {
            try await body(agent)
        } teardown: {
            await agent.stop()
            await sim.stop()
            try? await upstream.stop()
        }
    }

    func call(_ connection: inout HTTP1TestConnection, _ method: HTTPMethod = .PUT, body: String) async throws -> TestResponse {
        let host = "forgetful.\(Self.namespace)"
        return try await connection.request(method, "http://\(host)/", headers: [("Host", host)], body: Array(body.utf8))
    }

    /// The second call goes out on the pooled connection, which the function closes unanswered:
    /// the caller still gets its answer, from a second connection, with its body intact. PUT is
    /// idempotent (RFC 9110 §9.2.2): a second delivery does what one does.
    @Test func aPooledConnectionClosedUnansweredIsRetriedOnAFreshOne() async throws {
        let upstream = try await ForgetfulUpstream.start(closesEveryConnection: false)
        try await withProxy(to: upstream) { agent in
            // One caller connection: its calls run on one event loop and so share one pool.
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let first = try await call(&connection, body: "one")
                #expect(first.status == 200 && first.text == "one")
                let second = try await call(&connection, body: "two")
                #expect(second.status == 200)
                #expect(second.text == "two")
            }
            #expect(upstream.connections == 2)
            #expect(upstream.unanswered == 1)
        }
    }

    /// Hardening review, defect 4: a POST the function had read on a pooled connection that
    /// then closed was sent again, so the function got it twice (a Direktiv action may move
    /// money). Now the caller gets 502 (which Direktiv retries by its own rules) and the
    /// function saw the request once.
    @Test func aPostThatWentOutIsNeverSentTwice() async throws {
        let upstream = try await ForgetfulUpstream.start(closesEveryConnection: false)
        try await withProxy(to: upstream) { agent in
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let first = try await call(&connection, .POST, body: "one")
                #expect(first.status == 200 && first.text == "one")
                let second = try await call(&connection, .POST, body: "two")
                #expect(second.status == 502, "\(second.status) \(second.text)")
            }
            #expect(upstream.connections == 1, "no second connection: the POST was not sent again")
            #expect(upstream.unanswered == 1)
        }
    }

    /// A fresh connection closed unanswered is the function's failure: 502, and no second try
    /// (a function that crashes on a request must not get it twice).
    @Test func aFreshConnectionClosedUnansweredIs502WithoutRetry() async throws {
        let upstream = try await ForgetfulUpstream.start(closesEveryConnection: true)
        try await withProxy(to: upstream) { agent in
            let response = try await withHTTP1Connection(port: agent.proxyPort) { try await call(&$0, body: "once") }
            #expect(response.status == 502)
            #expect(upstream.connections == 1)
            #expect(upstream.unanswered == 1)
            let metrics = String(buffer: agent.prometheus.render())
            #expect(metrics.contains(#"direktiv_dispatch_upstream_errors_total{cluster="unknown",reason="upstream_closed"} 1"#))
        }
    }
}

/// A function server that answers only the first request on each connection and closes on the
/// next one after reading it: what a keep-alive client meets when the server's idle timeout
/// closes a connection just as a request goes out on it. With `closesEveryConnection` it never
/// answers.
final class ForgetfulUpstream: Sendable {
    let channel: any Channel
    let counters: Counters
    var port: Int { channel.localAddress!.port! }
    /// Connections the proxy opened.
    var connections: Int { counters.connections.load(ordering: .relaxed) }
    /// Requests read and not answered.
    var unanswered: Int { counters.unanswered.load(ordering: .relaxed) }

    private init(channel: any Channel, counters: Counters) {
        self.channel = channel
        self.counters = counters
    }

    static func start(closesEveryConnection: Bool) async throws -> ForgetfulUpstream {
        let counters = Counters()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    counters.connections.add(1, ordering: .relaxed)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(closesEveryConnection: closesEveryConnection, counters: counters))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ForgetfulUpstream(channel: channel, counters: counters)
    }

    func stop() async throws {
        try await channel.close()
    }

    final class Counters: Sendable {
        let connections = Atomic<Int>(0)
        let unanswered = Atomic<Int>(0)
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let closesEveryConnection: Bool
        let counters: Counters
        var requests = 0
        var body = ByteBuffer()

        init(closesEveryConnection: Bool, counters: Counters) {
            self.closesEveryConnection = closesEveryConnection
            self.counters = counters
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head:
                requests += 1
                body.clear()
            case .body(var bytes):
                body.writeBuffer(&bytes)
            case .end:
                if closesEveryConnection || requests > 1 {
                    counters.unanswered.add(1, ordering: .relaxed)
                    context.close(promise: nil)
                    return
                }
                var head = HTTPResponseHead(version: .http1_1, status: .ok)
                head.headers.add(name: "Content-Length", value: String(body.readableBytes))
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
