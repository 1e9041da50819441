import DispatchCore
import DispatchMetrics
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import DispatchProxy

/// One caller connection's handler on an `EmbeddedEventLoop`, its upstream connections
/// `EmbeddedChannel`s too: the bytes each side sees, in order, without sockets or sleeps.
@Suite struct InvocationForwarderTests {
    static let namespace = "direktiv-services-direktiv"
    let loop = EmbeddedEventLoop()

    final class Upstreams {
        var channels: [EmbeddedChannel] = []
    }

    /// A caller connection through the forwarder, and the upstream channels it opens.
    func makeCaller(resolving: Bool = true) throws -> (EmbeddedChannel, Upstreams, UpstreamConnectionPool) {
        let proxy = InvocationProxy(
            settings: InvocationProxy.Settings(),
            functionsNamespaces: Published([Self.namespace]),
            directory: { _, _ in nil },
            resolver: FunctionAddressResolver.table { _ in resolving ? "10.0.0.1:8080" : nil },
            statistics: InvocationStatistics(),
            metrics: DispatchMetrics(),
            logger: Logger(label: "forwarder-test")
        )
        let upstreams = Upstreams()
        let loop = loop
        let pool = UpstreamConnectionPool(
            eventLoop: loop, settings: .init(connectTimeout: .seconds(1), idleTimeout: .seconds(30), maximumIdlePerHost: 4)
        ) { _, connection in
            let channel = EmbeddedChannel(handler: connection, loop: loop)
            upstreams.channels.append(channel)
            return channel.connect(to: try! SocketAddress(ipAddress: "10.0.0.1", port: 8080)).map { channel }
        }
        let resources = InvocationProxy.LoopResources(pool: pool, metrics: DispatchMetrics())
        let forwarder = InvocationForwarder(proxy: proxy, resources: resources, idleTimeout: .seconds(60))
        let caller = EmbeddedChannel(handler: forwarder, loop: loop)
        _ = try caller.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        return (caller, upstreams, pool)
    }

    func send(_ text: String, to channel: EmbeddedChannel) throws {
        try channel.writeInbound(ByteBuffer(string: text))
        loop.run()
    }

    /// Everything a channel wrote so far, as text.
    func written(by channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    func request(_ function: String, body: String = "{}", close: Bool = false) -> String {
        "POST http://\(function).\(Self.namespace)/ HTTP/1.1\r\nHost: \(function).\(Self.namespace)\r\nContent-Length: \(body.utf8.count)\r\n\(close ? "Connection: close\r\n" : "")\r\n\(body)"
    }

    static let okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    @Test func keepAliveCallsShareOneUpstreamConnection() throws {
        let (caller, upstreams, pool) = try makeCaller()
        for index in 0..<3 {
            try send(request("greeter", body: "{\"n\":\(index)}"), to: caller)
            #expect(upstreams.channels.count == 1)
            let forwarded = try written(by: upstreams.channels[0])
            #expect(forwarded.hasPrefix("POST / HTTP/1.1\r\n"))
            #expect(forwarded.hasSuffix("{\"n\":\(index)}"))
            try send(Self.okAnswer, to: upstreams.channels[0])
            let answer = try written(by: caller)
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix("\r\n\r\nok"), "\(answer)")
            #expect(pool.idleCount == 1)
        }
        #expect(caller.isActive)
    }

    /// A second request sent before the first is answered waits: the function sees it only
    /// after the first answer, and the caller gets the answers in order.
    @Test func pipelinedRequestsAreForwardedOneAtATimeAndAnsweredInOrder() throws {
        let (caller, upstreams, _) = try makeCaller()
        try send(request("greeter", body: "{\"first\":1}") + request("greeter", body: "{\"second\":2}"), to: caller)
        let upstream = try #require(upstreams.channels.first)
        let first = try written(by: upstream)
        #expect(first.contains("first") && !first.contains("second"))
        try send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", to: upstream)
        let second = try written(by: upstream)
        #expect(second.contains("second") && !second.contains("first"))
        try send("HTTP/1.1 201 Created\r\nContent-Length: 6\r\n\r\nsecond", to: upstream)
        let answers = try written(by: caller)
        let firstAt = try #require(answers.range(of: "200 OK"))
        let secondAt = try #require(answers.range(of: "201 Created"))
        #expect(firstAt.lowerBound < secondAt.lowerBound)
        #expect(upstreams.channels.count == 1)
    }

    /// A caller that leaves mid-call: the function's connection closes with it (its half-sent
    /// answer could not be reused) and goes back to no pool.
    @Test func aCallerLeavingMidCallClosesTheUpstreamConnection() throws {
        let (caller, upstreams, pool) = try makeCaller()
        try send(request("greeter"), to: caller)
        let upstream = try #require(upstreams.channels.first)
        _ = try written(by: upstream)
        try send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", to: upstream)
        caller.pipeline.fireChannelInactive()
        loop.run()
        #expect(!upstream.isActive)
        #expect(pool.idleCount == 0)
    }

    /// `Connection: close` from the caller ends the caller's connection after the answer; the
    /// function's connection, answered completely, stays for the next call.
    @Test func connectionCloseEndsTheCallerAfterTheAnswer() throws {
        let (caller, upstreams, pool) = try makeCaller()
        try send(request("greeter", close: true), to: caller)
        let upstream = try #require(upstreams.channels.first)
        _ = try written(by: upstream)
        try send(Self.okAnswer, to: upstream)
        let answer = try written(by: caller)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(answer.hasSuffix("ok"))
        #expect(!caller.isActive)
        #expect(pool.idleCount == 1)
    }

    /// A host that is no function is refused by the proxy itself: nothing is opened upstream.
    @Test func aNonFunctionTargetIsRefusedWithoutAnyUpstream() throws {
        let (caller, upstreams, _) = try makeCaller()
        try send("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", to: caller)
        let answer = try written(by: caller)
        #expect(answer.hasPrefix("HTTP/1.1 403 "))
        #expect(upstreams.channels.isEmpty)
    }

    /// A caller connection with no call for longer than the idle timeout closes; one that is
    /// busy stays open however long its call takes.
    @Test func anIdleCallerConnectionClosesAfterTheIdleTimeout() throws {
        let (caller, upstreams, _) = try makeCaller()
        loop.advanceTime(by: .seconds(59))
        #expect(caller.isActive)
        try send(request("greeter"), to: caller)
        loop.advanceTime(by: .seconds(120))
        #expect(caller.isActive, "a call in progress is not idle")
        try send(Self.okAnswer, to: try #require(upstreams.channels.first))
        _ = try written(by: caller)
        loop.advanceTime(by: .seconds(59))
        #expect(caller.isActive)
        loop.advanceTime(by: .seconds(2))
        #expect(!caller.isActive)
    }

    /// The function answers before the caller finished its body: the answer goes out at once,
    /// the rest of the body is read and dropped (never forwarded, never taken for a request), and
    /// the connection serves the next call.
    @Test func anEarlyAnswerIsSentAndTheRestOfTheBodyDrained() throws {
        let (caller, upstreams, _) = try makeCaller()
        let head = "POST http://greeter.\(Self.namespace)/ HTTP/1.1\r\nHost: greeter.\(Self.namespace)\r\nContent-Length: 20\r\n\r\n"
        try send(head + "0123456789", to: caller)
        let upstream = try #require(upstreams.channels.first)
        #expect(try written(by: upstream).hasSuffix("0123456789"))
        try send("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", to: upstream)
        let early = try written(by: caller)
        #expect(early.hasPrefix("HTTP/1.1 503 "))
        #expect(!early.lowercased().contains("connection: close"))
        try send("GET /x HTT", to: caller)  // the last 10 bytes of the body
        #expect(try written(by: caller).isEmpty, "the rest of the body is no request")
        try send(request("greeter", body: "again"), to: caller)
        let next = upstreams.channels.last.map { try? written(by: $0) } ?? nil
        #expect(next?.hasSuffix("again") == true)
        #expect(next?.contains("GET /x") == false)
        #expect(caller.isActive)
    }

    /// Thousands of pipelined requests in one read that each end at once (here: no function
    /// resolves, a 502 each) are answered one after another in a loop: a call that ends while
    /// the next is read does not begin the next one inside itself, so hostile input cannot
    /// grow the stack (this once recursed a few frames per request).
    @Test func manyPipelinedRequestsThatEndAtOnceAreAnsweredWithoutNesting() throws {
        let (caller, upstreams, _) = try makeCaller(resolving: false)
        let count = 50_000
        let one = "GET http://greeter.\(Self.namespace)/ HTTP/1.1\r\nHost: greeter.\(Self.namespace)\r\n\r\n"
        try send(String(repeating: one, count: count), to: caller)
        let answers = try written(by: caller)
        #expect(answers.components(separatedBy: "HTTP/1.1 502 ").count - 1 == count)
        #expect(upstreams.channels.isEmpty)
        #expect(caller.isActive, "each answer keeps the connection: every request was read whole")
    }
}
