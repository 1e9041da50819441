import DispatchAgent
import DispatchCore
import DispatchMetrics
import Foundation
import KubeClient
import KubeSim
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TestSupport
import Testing

@testable import DispatchProxy

/// Request smuggling and the other holes of the hardening review, sent as raw bytes through the
/// real proxy to a function server that logs every request it reads with NIOHTTP1's decoder
/// (llhttp, the parser Node.js uses): a request is either refused (and nothing reaches the
/// function) or arrives as exactly one request with the body length its sender meant.
@Suite(.serialized) struct ProxySmugglingTests {
    static let namespace = Scenario.functionsNamespace
    static let host = "logger.\(namespace)"

    /// One attack: the fields and body after `POST http://logger.../ HTTP/1.1`, and the body
    /// length the function must see if the proxy forwards it (`nil`: it must be refused).
    struct Vector: Sendable, CustomStringConvertible {
        var name: String
        var fieldsAndBody: String
        var acceptedBodyLength: Int?
        var description: String { name }
    }

    static let vectors: [Vector] = [
        // CL.TE and TE.CL: both framings in one request.
        Vector(name: "CL.TE", fieldsAndBody: "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", acceptedBodyLength: nil),
        Vector(
            name: "TE.CL", fieldsAndBody: "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        // TE.TE: obfuscated codings one side may ignore.
        Vector(name: "TE xchunked", fieldsAndBody: "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "TE space before colon", fieldsAndBody: "Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(
            name: "TE twice", fieldsAndBody: "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            acceptedBodyLength: nil),
        Vector(name: "TE list", fieldsAndBody: "Transfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "TE quoted", fieldsAndBody: "Transfer-Encoding: \"chunked\"\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "TE vertical tab", fieldsAndBody: "Transfer-Encoding: chunked\u{0B}\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "TE underscore", fieldsAndBody: "Transfer_Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "CL underscore", fieldsAndBody: "Content_Length: 5\r\n\r\nhello", acceptedBodyLength: nil),
        Vector(name: "TE tab before value", fieldsAndBody: "Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: 5),
        Vector(name: "TE upper case", fieldsAndBody: "Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: 5),
        // Obsolete line folding.
        Vector(name: "obs-fold TE", fieldsAndBody: "Transfer-Encoding: identity\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "obs-fold other", fieldsAndBody: "X-A: 1\r\n\tContent-Length: 5\r\n\r\nhello", acceptedBodyLength: nil),
        // Duplicate and listed lengths.
        Vector(name: "CL twice, same", fieldsAndBody: "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", acceptedBodyLength: 5),
        Vector(name: "CL twice, different", fieldsAndBody: "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", acceptedBodyLength: nil),
        Vector(name: "CL list, same", fieldsAndBody: "Content-Length: 5, 5\r\n\r\nhello", acceptedBodyLength: 5),
        Vector(name: "CL list, different", fieldsAndBody: "Content-Length: 5, 6\r\n\r\nhello!", acceptedBodyLength: nil),
        Vector(name: "CL plus", fieldsAndBody: "Content-Length: +5\r\n\r\nhello", acceptedBodyLength: nil),
        Vector(name: "CL hex", fieldsAndBody: "Content-Length: 0x5\r\n\r\nhello", acceptedBodyLength: nil),
        Vector(name: "CL negative", fieldsAndBody: "Content-Length: -1\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "CL two numbers", fieldsAndBody: "Content-Length: 5 5\r\n\r\nhello", acceptedBodyLength: nil),
        Vector(name: "CL huge", fieldsAndBody: "Content-Length: 99999999999999999999\r\n\r\nhello", acceptedBodyLength: nil),
        Vector(name: "CL leading zeros", fieldsAndBody: "Content-Length: 005\r\n\r\nhello", acceptedBodyLength: 5),
        // Chunk-size tricks.
        Vector(name: "chunk 0x", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "chunk size space", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "chunk negative", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(
            name: "chunk overflow", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n",
            acceptedBodyLength: nil),
        Vector(name: "chunk longer than size", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(name: "chunk bare LF", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(
            name: "chunk extension unterminated", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n",
            acceptedBodyLength: nil),
        Vector(
            name: "chunk extension", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d e\"\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: 5),
        Vector(
            name: "chunk leading zeros", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n00000000000000000005\r\nhello\r\n0\r\n\r\n",
            acceptedBodyLength: 5),
        Vector(
            name: "trailer without colon", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nGET /smuggled HTTP/1.1\r\n\r\n",
            acceptedBodyLength: nil),
        Vector(
            name: "trailer length", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n",
            acceptedBodyLength: nil),
        Vector(
            name: "trailer coding", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\ntransfer-encoding: chunked\r\n\r\n",
            acceptedBodyLength: nil),
        Vector(
            name: "trailer other", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n",
            acceptedBodyLength: 5),
        // Framing fields named by Connection (defect 1).
        Vector(
            name: "Connection: Transfer-Encoding",
            fieldsAndBody: "Transfer-Encoding: chunked\r\nConnection: Transfer-Encoding\r\n\r\n5\r\nhello\r\n0\r\n\r\n", acceptedBodyLength: nil),
        Vector(
            name: "Connection: Transfer-Encoding, smuggled GET",
            fieldsAndBody:
                "Transfer-Encoding: chunked\r\nConnection: keep-alive, transfer-encoding\r\n\r\n2b\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\nX: y\r\n\r\n\r\n0\r\n\r\n",
            acceptedBodyLength: nil),
        Vector(
            name: "Connection: Content-Length", fieldsAndBody: "Content-Length: 5\r\nConnection: Content-Length\r\n\r\nhello", acceptedBodyLength: nil
        ),
        // Requests hidden in bodies stay bodies.
        Vector(name: "GET in a body", fieldsAndBody: "Content-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", acceptedBodyLength: 35),
        Vector(
            name: "GET in chunks", fieldsAndBody: "Transfer-Encoding: chunked\r\n\r\n23\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n",
            acceptedBodyLength: 35),
        // Broken lines.
        Vector(name: "bare LF head", fieldsAndBody: "Content-Length: 5\n\nhello", acceptedBodyLength: nil),
        Vector(name: "bare CR in value", fieldsAndBody: "X-A: a\rContent-Length: 5\r\n\r\nhello", acceptedBodyLength: nil),
        Vector(name: "NUL in value", fieldsAndBody: "X-A: a\u{0}b\r\nContent-Length: 5\r\n\r\nhello", acceptedBodyLength: nil),
        Vector(name: "no framing, body follows", fieldsAndBody: "X-A: 1\r\n\r\n", acceptedBodyLength: 0),
    ]

    @Test(.timeLimit(.minutes(2)))
    func knownSmugglingVectorsAreRefusedOrArriveAsOneRequest() async throws {
        let upstream = try await LoggingUpstream.start()
        let sim = try await SimHarness.start(functions: FunctionServers.Options())
        let port = upstream.port
        let resolver = FunctionAddressResolver.table { host in host.hasPrefix("logger.") ? "127.0.0.1:\(port)" : nil }
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), resolver: resolver)
        try await withTeardown {
            let marker = "GET http://\(Self.host)/marker HTTP/1.1\r\nHost: \(Self.host)\r\nConnection: close\r\n\r\n"
            for vector in Self.vectors {
                upstream.clear()
                let request = "POST http://\(Self.host)/ HTTP/1.1\r\nHost: \(Self.host)\r\n" + vector.fieldsAndBody + marker
                let answer = try await exchangeBytes(port: agent.proxyPort, request)
                // Bodies are "ok" or text without a status line in them.
                let statuses = answer.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
                let seen = upstream.requests
                if let length = vector.acceptedBodyLength {
                    #expect(statuses == [200, 200], "\(vector): \(answer)")
                    #expect(seen.map(\.target) == ["/", "/marker"], "\(vector): the function read \(seen)")
                    #expect(seen.first?.bodyLength == length, "\(vector): \(seen)")
                } else {
                    #expect(statuses.count == 1 && [400, 431, 501].contains(statuses.first ?? 0), "\(vector): \(answer)")
                    #expect(seen.isEmpty, "\(vector): a refused request reached the function: \(seen)")
                }
                #expect(!seen.contains { $0.target.contains("smuggled") }, "\(vector): \(seen)")
            }
            // The pooled connections to the function never fell out of step.
            #expect(upstream.decoderErrors == 0)
        } teardown: {
            await agent.stop()
            await sim.stop()
            try? await upstream.stop()
        }
    }

    /// Answers carry the same attack the other way: a function (or whatever answers in its
    /// place) whose answer names its framing in `Connection` gets 502, and its connection is
    /// not reused.
    @Test(.timeLimit(.minutes(1)))
    func answersNamingTheirFramingInConnectionAre502() async throws {
        let upstream = try await LoggingUpstream.start(
            answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: Transfer-Encoding\r\n\r\n2\r\nok\r\n0\r\n\r\n")
        let sim = try await SimHarness.start(functions: FunctionServers.Options())
        let port = upstream.port
        let resolver = FunctionAddressResolver.table { host in host.hasPrefix("logger.") ? "127.0.0.1:\(port)" : nil }
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), resolver: resolver)
        try await withTeardown {
            let answer = try await exchangeBytes(
                port: agent.proxyPort, "GET http://\(Self.host)/ HTTP/1.1\r\nHost: \(Self.host)\r\nConnection: close\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 502 "), "\(answer)")
        } teardown: {
            await agent.stop()
            await sim.stop()
            try? await upstream.stop()
        }
    }
}

/// The other defects of the hardening review that a caller triggers with plain requests.
@Suite(.serialized) struct ProxyHardeningTests {
    static let namespace = Scenario.functionsNamespace

    func withProxy(configure: (inout AgentSettings) -> Void = { _ in }, _ body: (SimHarness, AgentHarness) async throws -> Void) async throws {
        let sim = try await SimHarness.start(functions: FunctionServers.Options())
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), configure: configure)
        try await withTeardown {
            try await body(sim, agent)
        } teardown: {
            await agent.stop()
            await sim.stop()
        }
    }

    /// Defect 2: a `Direktiv-Deadline` centuries ahead crashed the process when the call timer
    /// was re-armed after the body idle timeout checked a slow function (the whole agent died
    /// with it). Now the call is answered and the agent serves on.
    @Test(.timeLimit(.minutes(1))) func aDeadlineCenturiesAheadDoesNotCrashTheAgent() async throws {
        let configure: (inout AgentSettings) -> Void = { $0.bodyIdleTimeout = .milliseconds(200) }
        try await withProxy(configure: configure) { sim, agent in
            let client = try sim.client()
            defer { Task { try? await client.shutdown() } }
            let host = "slow.\(Self.namespace)"
            let spec = FunctionSpec(namespace: "main", name: "slow", image: "direktiv/echo:v1", size: .small, minScale: 1)
            let object = try DirektivServiceBuilder.knativeService(
                spec, namespace: Self.namespace, sizes: .direktivDefaults, sidecarImage: "direktiv/sidecar:v0.8.10")
            _ = try await client.create(object, .knativeServices, namespace: Self.namespace)
            _ = try await next(agent.agent.functions.changes(), within: .seconds(30)) { $0.contains { $0.key.name == "slow" && $0.isReady } }
            for deadline in ["9999-12-31T23:59:59Z", "2400-01-01T00:00:00.000000001+23:59"] {
                try await withHTTP1Connection(port: agent.proxyPort) { connection in
                    let headers = [("Host", host), ("Direktiv-Deadline", deadline), ("Kubesim-Delay-Ms", "600")]
                    let answer = try await connection.request(.POST, "http://\(host)/", headers: headers, body: Array("{}".utf8))
                    #expect(answer.status == 200, "\(deadline): \(answer.status) \(answer.text)")
                }
            }
            let health = try await exchangeBytes(port: agent.adminPort, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(health.hasPrefix("HTTP/1.1 200"), "the agent is still up")
        }
    }

    /// Defects 6, 7 and 9: heads over 64 KiB in one read are refused (431), a bare-LF head is
    /// answered at once rather than at the idle timeout, and a refusal never echoes a long target.
    @Test(.timeLimit(.minutes(1))) func oversizedBareLineFeedAndLongTargetRequestsAreAnsweredAtOnce() async throws {
        try await withProxy { _, agent in
            for size in [64 * 1024, 100 * 1024, 120 * 1024] {
                let filler = String(repeating: "a", count: size)
                let answer = try await exchangeBytes(
                    port: agent.proxyPort, "GET http://x.\(Self.namespace)/ HTTP/1.1\r\nHost: x\r\nX-Filler: \(filler)\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 431 "), "\(size): \(answer.prefix(80))")
            }
            // Answered before the caller idle timeout of 90 s (the test's limit is one minute).
            let bare = try await exchangeBytes(port: agent.proxyPort, "GET http://x.\(Self.namespace)/ HTTP/1.1\nHost: x\n\n")
            #expect(bare.hasPrefix("HTTP/1.1 400 "), "\(bare)")

            let long = "http://" + String(repeating: "b", count: 60_000) + ".example/"
            let refused = try await exchangeBytes(port: agent.proxyPort, "GET \(long) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(refused.hasPrefix("HTTP/1.1 403 "), "\(refused.prefix(80))")
            #expect(refused.utf8.count < 1024, "the answer is \(refused.utf8.count) bytes")
        }
    }
}

/// A function server on NIOHTTP1's decoder that logs what it reads: each request's target and
/// body length. Every request gets `answer` (by default 200 with a two-byte body, keep-alive).
final class LoggingUpstream: Sendable {
    struct Seen: Sendable, CustomStringConvertible {
        var method: String
        var target: String
        var bodyLength: Int
        var description: String { "\(method) \(target) (\(bodyLength) bytes)" }
    }

    let channel: any Channel
    private let log: Mutex<(requests: [Seen], errors: Int)>
    var port: Int { channel.localAddress?.port ?? 0 }
    var requests: [Seen] { log.withLock { $0.requests } }
    var decoderErrors: Int { log.withLock { $0.errors } }

    private init(channel: any Channel) {
        self.channel = channel
        self.log = Mutex(([], 0))
    }

    func clear() { log.withLock { $0.requests = [] } }

    static func start(answer: String = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") async throws -> LoggingUpstream {
        let box = Box()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try channel.pipeline.syncOperations.addHandler(Handler(box: box, answer: answer))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = LoggingUpstream(channel: channel)
        box.upstream.withLock { $0 = upstream }
        return upstream
    }

    func stop() async throws { try await channel.close() }

    fileprivate func record(_ seen: Seen) { log.withLock { $0.requests.append(seen) } }
    fileprivate func recordError() { log.withLock { $0.errors += 1 } }

    fileprivate final class Box: Sendable {
        let upstream = Mutex<LoggingUpstream?>(nil)
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = ByteBuffer
        let box: Box
        let answer: String
        var current: Seen?

        init(box: Box, answer: String) {
            self.box = box
            self.answer = answer
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                current = Seen(method: head.method.rawValue, target: head.uri, bodyLength: 0)
            case .body(let bytes):
                current?.bodyLength += bytes.readableBytes
            case .end:
                if let current { box.upstream.withLock { $0?.record(current) } }
                current = nil
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer)), promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            box.upstream.withLock { $0?.recordError() }
            context.close(promise: nil)
        }
    }
}
