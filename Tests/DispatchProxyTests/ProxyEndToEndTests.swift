import DispatchAgent
import DispatchCore
import DispatchMetrics
import DispatchPrometheus
import Foundation
import KubeClient
import KubeModels
import KubeSim
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

@testable import DispatchProxy

/// Function calls through the real proxy to KubeSim's function endpoints, placed by the agent
/// as its webhook: the URL forms Direktiv uses, what crosses the proxy, what it refuses, how it
/// fails, and what it measures.
@Suite(.serialized) struct ProxyEndToEndTests {
    static let namespace = Scenario.functionsNamespace

    func withProxy(
        configure: (inout AgentSettings) -> Void = { _ in }, _ body: (SimHarness, AgentHarness, KubeClient) async throws -> Void
    ) async throws {
        let sim = try await SimHarness.start(functions: FunctionServers.Options())
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), configure: configure)
        let client = try sim.client()
        try await withTeardown {
            try await body(sim, agent, client)
        } teardown: {
            try? await client.shutdown()
            await agent.stop()
            await sim.stop()
        }
    }

    /// Creates a function of Direktiv namespace `direktivNamespace` and waits until it serves.
    @discardableResult
    func deploy(_ name: String, in direktivNamespace: String, client: KubeClient, agent: AgentHarness) async throws -> FunctionRecord {
        let spec = FunctionSpec(namespace: direktivNamespace, name: name, image: "direktiv/echo:v1", size: .small, minScale: 1)
        let object = try DirektivServiceBuilder.knativeService(
            spec, namespace: Self.namespace, sizes: .direktivDefaults, sidecarImage: "direktiv/sidecar:v0.8.10")
        _ = try await client.create(object, .knativeServices, namespace: Self.namespace)
        let records = try await next(agent.agent.functions.changes(), within: .seconds(30)) { records in
            records.contains { $0.key.name == name && $0.isReady }
        }
        return try #require(records.first { $0.key.name == name })
    }

    func host(_ function: String) -> String { "\(function).\(Self.namespace)" }

    static let deadlineFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    func direktivHeaders(action: String, deadline: Date = Date().addingTimeInterval(60)) -> [(String, String)] {
        [
            ("Direktiv-ActionID", action), ("Direktiv-InstanceID", "instance-1"), ("Direktiv-Namespace", "team-a"), ("Direktiv-Step", "0"),
            ("Direktiv-Deadline", deadline.formatted(Self.deadlineFormat)), ("Direktiv-Iterator", "0"), ("Content-Type", "application/json"),
        ]
    }

    @Test func everyFunctionURLFormReachesThePlacedClusterOnOneConnection() async throws {
        try await withProxy { sim, agent, client in
            let record = try await deploy("greeter", in: "team-a", client: client, agent: agent)
            let cluster = try #require(record.cluster)
            #expect(["external1", "external2"].contains(cluster))
            let body = Array(#"{"name":"direktiv"}"#.utf8)
            let targets = [
                "http://\(host("greeter"))/", "http://\(host("greeter")).svc/", "http://\(host("greeter")).svc.cluster.local/",
                "http://\(host("greeter")):80/", "/functions/\(Self.namespace)/greeter/",
            ]
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                for (index, target) in targets.enumerated() {
                    let response = try await connection.request(
                        .POST, target, headers: direktivHeaders(action: "action-\(index)") + [("Host", host("greeter"))], body: body)
                    #expect(response.status == 200, "\(target): \(response.text)")
                    #expect(response.body == body)
                    #expect(response.headers["Direktiv-ActionID"] == ["action-\(index)"])
                    #expect(response.headers["Content-Length"] == [String(body.count)])
                    #expect(response.headers["Kubesim-Cluster"] == [cluster])
                }
            }
        }
    }

    /// Issue 23, item 1: after an API server restart (a single control plane, as with k3s and
    /// Liqo) the agent's watches back off, but readiness must not take the proxy offline: a pod
    /// is ready once it started and synced, and the proxy keeps forwarding to the functions it
    /// knows. The kubelet reads `/readyz`; the old agent answered 503 here within ~2 s.
    @Test func theProxyStaysReadyAndForwardsWhileTheAPIServerIsAway() async throws {
        try await withProxy { sim, agent, client in
            let record = try await deploy("steady", in: "main", client: client, agent: agent)
            await sim.stopAPIServer()
            _ = try await next(agent.agent.inventory.readinessChanges()) { $0.isStale }
            let admin = AdminClient(port: agent.adminPort)
            let ready = try await admin.call(.GET, "/readyz")
            #expect(ready.status == 200, "\(ready.json)")
            #expect(ready.json["notes"]?["inventory"]?.stringValue?.hasPrefix("stale") == true)
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let response = try await connection.request(
                    .POST, "http://\(host("steady"))/", headers: direktivHeaders(action: "while-away") + [("Host", host("steady"))],
                    body: Array("{}".utf8))
                #expect(response.status == 200, "\(response.text)")
                #expect(response.headers["Kubesim-Cluster"] == [record.cluster ?? ""])
            }
        }
    }

    /// Keep-alive holds for calls with and without a body, however fast the function answers:
    /// the engine's connection pool must not see the proxy close connections between calls.
    @Test func oneConnectionCarriesManyCallsWithAndWithoutBodies() async throws {
        try await withProxy { _, agent, client in
            try await deploy("pool", in: "main", client: client, agent: agent)
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                for call in 0..<300 {
                    let body: [UInt8]? = call % 3 == 0 ? nil : Array("{\"call\":\(call)}".utf8)
                    let response = try await connection.request(
                        body == nil ? .GET : .POST, "http://\(host("pool"))/\(body == nil ? "up" : "")", headers: [("Host", host("pool"))], body: body
                    )
                    #expect(response.status == 200, "call \(call)")
                    #expect(response.headers["Connection"].allSatisfy { $0.lowercased() != "close" }, "call \(call) closed the connection")
                }
                let last = try await connection.request(.POST, "http://\(host("pool"))/", headers: [("Host", host("pool"))], body: Array("end".utf8))
                #expect(last.status == 200 && last.text == "end", "the connection still serves after 300 calls")
            }
        }
    }

    /// Requests sent back to back in one write are answered in order; heads that could be read
    /// two ways (request smuggling) or are broken get 400 and the connection closes, nothing
    /// reaching a function.
    @Test func pipelinedRequestsAreAnsweredInOrderAndAmbiguousHeadsRefused() async throws {
        try await withProxy { sim, agent, client in
            try await deploy("raw", in: "main", client: client, agent: agent)
            let target = "http://\(host("raw"))/"
            let pipelined = try await exchangeBytes(
                port: agent.proxyPort,
                "POST \(target) HTTP/1.1\r\nHost: \(host("raw"))\r\nContent-Length: 5\r\n\r\nfirstPOST \(target) HTTP/1.1\r\nHost: \(host("raw"))\r\n"
                    + "Content-Length: 6\r\nConnection: close\r\n\r\nsecond")
            let answers = pipelined.components(separatedBy: "HTTP/1.1 ").dropFirst()
            #expect(answers.count == 2, "\(pipelined)")
            #expect(answers.first?.hasPrefix("200") == true && answers.first?.hasSuffix("\r\n\r\nfirst") == true, "\(pipelined)")
            #expect(answers.last?.hasPrefix("200") == true && answers.last?.hasSuffix("\r\n\r\nsecond") == true, "\(pipelined)")

            let served = Recorder<String>()
            let watcher = Task { for await request in sim.functions!.requests() { served.append(request.host) } }
            let ambiguous = [
                "Content-Length: 5\r\nContent-Length: 6\r\n",
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                "Transfer-Encoding: gzip, chunked\r\nTransfer-Encoding: identity\r\n",
                "Content-Length: -5\r\n",
                "Content-Length : 5\r\n",
                " Host: folded\r\n",
            ]
            for fields in ambiguous {
                let answer = try await exchangeBytes(port: agent.proxyPort, "POST \(target) HTTP/1.1\r\nHost: \(host("raw"))\r\n\(fields)\r\nhello")
                #expect(answer.hasPrefix("HTTP/1.1 400 ") || answer.hasPrefix("HTTP/1.1 501 "), "\(fields.debugDescription): \(answer)")
                #expect(answer.lowercased().contains("connection: close"), "\(fields.debugDescription): \(answer)")
            }
            watcher.cancel()
            #expect(served.all.isEmpty, "refused requests reached a function: \(served.all)")
        }
    }

    @Test func endToEndHeadersPassAndHopByHopHeadersStay() async throws {
        try await withProxy { _, agent, client in
            try await deploy("headers", in: "team-b", client: client, agent: agent)
            let sent: [(String, String)] = [
                ("Host", host("headers")), ("Direktiv-Files", "a.json"), ("Direktiv-Files", "b.json"),
                ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), ("tracestate", "congo=t61rcWkgMzE"),
                ("Connection", "keep-alive, X-Secret-Hop"), ("X-Secret-Hop", "1"), ("Keep-Alive", "timeout=5"),
                ("Proxy-Authorization", "Basic c2VjcmV0"), ("X-Forwarded-For", "10.0.0.1"), ("Direktiv-Deadline", "2099-01-01T00:00:00Z"),
            ]
            let response = try await withHTTP1Connection(port: agent.proxyPort) {
                try await $0.request(.GET, "http://\(host("headers"))/kubesim/headers", headers: sent)
            }
            #expect(response.status == 200)
            let received = try #require(JSONValue.parse(response.body).arrayValue).compactMap { pair -> (String, String)? in
                guard let name = pair[0]?.stringValue, let value = pair[1]?.stringValue else { return nil }
                return (name.lowercased(), value)
            }
            func values(_ name: String) -> [String] { received.filter { $0.0 == name }.map(\.1) }
            #expect(values("direktiv-files") == ["a.json", "b.json"])
            #expect(values("traceparent") == ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
            #expect(values("tracestate") == ["congo=t61rcWkgMzE"])
            #expect(values("direktiv-deadline") == ["2099-01-01T00:00:00Z"])
            #expect(values("x-secret-hop").isEmpty)
            #expect(values("keep-alive").isEmpty)
            #expect(values("proxy-authorization").isEmpty)
            #expect(values("x-forwarded-for") == ["10.0.0.1, 127.0.0.1"])
            #expect(values("forwarded") == ["for=127.0.0.1;host=\(host("headers"));proto=http"])
            #expect(values("host") == [host("headers")])
        }
    }

    @Test(.timeLimit(.minutes(3))) func bodiesUpTo128MiBKeepTheirLengthAndLargerOnesGetTheFunctionsRefusal() async throws {
        try await withProxy { _, agent, client in
            try await deploy("bulk", in: "main", client: client, agent: agent)
            let limit = 128 << 20
            var body = [UInt8](repeating: 0x61, count: limit)
            body[0] = 0x7B
            body[limit - 1] = 0x7D
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let response = try await connection.request(.POST, "http://\(host("bulk"))/", headers: [("Host", host("bulk"))], body: body)
                #expect(response.status == 200)
                #expect(response.headers["Content-Length"] == [String(limit)])
                #expect(response.headers["Transfer-Encoding"].isEmpty)
                #expect(response.body.count == limit && response.body.first == 0x7B && response.body.last == 0x7D)
            }
            // One byte more: the function refuses it at once; the proxy passes that on and stops
            // reading, so the caller's upload is cut (as Go's client expects, it reads meanwhile).
            let full = ByteBuffer(bytes: body)
            let refused = try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let writer = connection.writer
                try await writer.start(.POST, "http://\(host("bulk"))/", headers: [("Host", host("bulk")), ("Content-Length", String(limit + 1))])
                let upload = Task {
                    try await writer.send(full)
                    try await writer.send(ByteBuffer(string: " "))
                    try await writer.finish()
                }
                defer { upload.cancel() }
                return try await connection.readResponse()
            }
            #expect(refused.status == 413)
            // A chunked body reaches the function chunked, which it refuses, as Direktiv's sidecar does.
            let chunked = try await withHTTP1Connection(port: agent.proxyPort) { connection in
                try await connection.request(
                    .POST, "http://\(host("bulk"))/", headers: [("Host", host("bulk")), ("Transfer-Encoding", "chunked")], body: Array("{}".utf8))
            }
            #expect(chunked.status == 411)
        }
    }

    /// The caller sends half its body and waits for the echo before sending the rest: that only
    /// ends if the proxy forwards the request body as it arrives and the answer as it comes.
    /// A proxy that buffered either whole body would hang here until the guard fails the test.
    @Test(.timeLimit(.minutes(1))) func bodiesStreamBothWays() async throws {
        try await withProxy { _, agent, client in
            try await deploy("stream", in: "main", client: client, agent: agent)
            let chunk = ByteBuffer(repeating: 0x62, count: 1 << 20)
            let total = 100
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let writer = connection.writer
                try await writer.start(
                    .POST, "http://\(host("stream"))/", headers: [("Host", host("stream")), ("Content-Length", String(total << 20))])
                // The reader drains the echo all along (or the buffers between would fill and stall
                // both sides); the second half of the body waits until the answer has begun, so
                // the answer must stream before the request body ends.
                let (answerStarted, started) = AsyncStream.makeStream(of: Void.self)
                let sender = Task {
                    for _ in 0..<total / 2 { try await writer.send(chunk) }
                    for await _ in answerStarted { break }
                    for _ in total / 2..<total { try await writer.send(chunk) }
                    try await writer.finish()
                }
                let head = try await connection.readHead()
                started.yield()
                #expect(head.status == .ok)
                #expect(head.headers["Content-Length"] == [String(total << 20)])
                var received = 0
                while let piece = try await connection.readChunk() { received += piece.readableBytes }
                try await sender.value
                #expect(received == total << 20)
            }
        }
    }

    /// A function that answers before reading the body ends the call; the proxy stops reading
    /// the rest and closes the connection rather than draining it.
    ///
    /// The caller keeps its side open when the proxy half-closes, as Go's and curl's clients do:
    /// the proxy may half-close while the upload is still being written, and a client that
    /// closed on that FIN would fail its own write (seen once under CI load: "I/O on closed
    /// channel"), which says nothing about the proxy.
    @Test(.timeLimit(.minutes(1))) func anEarlyAnswerEndsTheUploadAndTheConnection() async throws {
        try await withProxy { _, agent, client in
            try await deploy("early", in: "main", client: client, agent: agent)
            try await withHTTP1Connection(port: agent.proxyPort, keepsSendingAfterPeerCloses: true) { connection in
                let writer = connection.writer
                try await writer.start(
                    .POST, "http://\(host("early"))/",
                    headers: [("Host", host("early")), ("Content-Length", String(64 << 20)), ("Kubesim-Status", "503")])
                let upload = Task { try await writer.send(ByteBuffer(repeating: 0x63, count: 1 << 20)) }
                let response = try await connection.readResponse()
                #expect(response.status == 503)
                #expect(await connection.isClosedByPeer())
                // Whether the upload's write completed before the proxy stopped reading is timing.
                _ = await upload.result
            }
        }
    }

    /// A refusal that comes while the caller is still uploading reaches the caller, and its
    /// upload is not broken: the proxy half-closes and drops the rest instead of closing on
    /// unread bytes, which would make the kernel reset the connection (failing the caller's
    /// writes, and possibly discarding the answer before the caller reads it).
    @Test(.timeLimit(.minutes(1))) func aRefusalDuringAnUploadIsNotResetAway() async throws {
        try await withProxy { _, agent, _ in
            for _ in 0..<3 {
                try await withHTTP1Connection(port: agent.proxyPort, keepsSendingAfterPeerCloses: true) { connection in
                    let writer = connection.writer
                    try await writer.start(
                        .POST, "http://169.254.169.254/", headers: [("Host", "169.254.169.254"), ("Content-Length", String(16 << 20))])
                    let upload = Task {
                        for _ in 0..<16 { try await writer.send(ByteBuffer(repeating: 0x75, count: 1 << 20)) }
                    }
                    let response = try await connection.readResponse()
                    #expect(response.status == 403)
                    #expect(response.text.contains("refused"))
                    #expect(await connection.isClosedByPeer())
                    try await upload.value
                }
            }
        }
    }

    @Test func nonFunctionTargetsAreRefusedAndNeverReachAnything() async throws {
        try await withProxy { sim, agent, client in
            try await deploy("target", in: "main", client: client, agent: agent)
            let served = Recorder<String>()
            let watcher = Task {
                for await request in sim.functions!.requests() { served.append(request.host) }
            }
            let refused: [(method: HTTPMethod, target: String, host: String)] = [
                (.GET, "http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
                (.GET, "http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal"),
                (.GET, "http://localhost:9090/metrics", "localhost:9090"),
                (.GET, "http://127.0.0.1/", "127.0.0.1"),
                (.GET, "http://2130706433/", "2130706433"),
                (.GET, "http://[::1]/", "[::1]"),
                (.GET, "http://kubernetes.default.svc/api", "kubernetes.default.svc"),
                (.GET, "http://target.default.svc.cluster.local/", "target.default.svc.cluster.local"),
                (.GET, "http://target.\(Self.namespace):8080/", "target.\(Self.namespace):8080"),
                (.GET, "http://user@target.\(Self.namespace)/", "target.\(Self.namespace)"),
                (.GET, "https://target.\(Self.namespace)/", "target.\(Self.namespace)"),
                (.GET, "ftp://target.\(Self.namespace)/", "target.\(Self.namespace)"),
                (.CONNECT, "target.\(Self.namespace):443", "target.\(Self.namespace):443"),
                (.GET, "/functions/default/target/", "127.0.0.1"),
                (.GET, "/metrics", "127.0.0.1"),
            ]
            for request in refused {
                let response = try await withHTTP1Connection(port: agent.proxyPort) {
                    try await $0.request(request.method, request.target, headers: [("Host", request.host)])
                }
                #expect(response.status == 403, "\(request.method) \(request.target) got \(response.status)")
                // A response to CONNECT has no body for the client's parser.
                if request.method != .CONNECT { #expect(response.text.contains("refused")) }
            }
            // The function itself still answers through the proxy, and only it reached an endpoint.
            let allowed = try await withHTTP1Connection(port: agent.proxyPort) {
                try await $0.request(.GET, "http://\(host("target"))/up", headers: [("Host", host("target"))])
            }
            #expect(allowed.status == 200)
            watcher.cancel()
            #expect(served.all.allSatisfy { $0 == host("target") })
            let metrics = String(buffer: agent.prometheus.render())
            #expect(metrics.contains(#"direktiv_dispatch_proxy_refusals_total{reason="ip_literal"} 4"#))
            #expect(metrics.contains(#"direktiv_dispatch_proxy_refusals_total{reason="connect"} 1"#))
        }
    }

    @Test func failuresKeepDirektivsRetryMeaning() async throws {
        let closedPort = try freePort()
        let resolver = FunctionAddressResolver.table { host in
            host.hasPrefix("refused.") ? "127.0.0.1:\(closedPort)" : nil
        }
        let sim = try await SimHarness.start(functions: FunctionServers.Options())
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), resolver: resolver)
        defer {
            Task {
                await agent.stop()
                await sim.stop()
            }
        }
        let refused = try await withHTTP1Connection(port: agent.proxyPort) { connection in
            try await connection.request(
                .POST, "http://refused.\(Self.namespace)/", headers: [("Host", "refused.\(Self.namespace)")], body: Array("{}".utf8))
        }
        #expect(refused.status == 502)
        #expect(refused.text.contains("connection refused"))
        let missing = try await withHTTP1Connection(port: agent.proxyPort) { connection in
            try await connection.request(
                .POST, "http://missing.\(Self.namespace)/", headers: [("Host", "missing.\(Self.namespace)")], body: Array("{}".utf8))
        }
        #expect(missing.status == 502)
        #expect(missing.text.contains("no such host"))
        let metrics = String(buffer: agent.prometheus.render())
        #expect(metrics.contains(#"direktiv_dispatch_upstream_errors_total{cluster="unknown",reason="refused"} 1"#))
        #expect(metrics.contains(#"direktiv_dispatch_upstream_errors_total{cluster="unknown",reason="unresolvable"} 1"#))
        #expect(
            metrics.contains(#"direktiv_dispatch_invocations_total{direktiv_namespace="unknown",function="unknown",cluster="unknown",code="502"} 2"#))
    }

    /// A caller that stops sending its body is cut after the body idle timeout with a 504 and
    /// its connection closes. The function, like Direktiv's sidecar, answers only later (an
    /// echo that has sent its head already can only be cut, with no status to give).
    @Test(.timeLimit(.minutes(1))) func aStalledUploadGets504AfterTheBodyIdleTimeout() async throws {
        let configure: (inout AgentSettings) -> Void = { $0.bodyIdleTimeout = .milliseconds(300) }
        try await withProxy(configure: configure) { _, agent, client in
            try await deploy("upload", in: "main", client: client, agent: agent)
            let reports = agent.agent.proxy.reports()
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let writer = connection.writer
                try await writer.start(
                    .POST, "http://\(host("upload"))/",
                    headers: [("Host", host("upload")), ("Content-Length", "1000"), ("Kubesim-Delay-Ms", "10000")])
                try await writer.send(ByteBuffer(repeating: 0x61, count: 10))
                let response = try await connection.readResponse()
                #expect(response.status == 504)
                #expect(response.text.contains("idle"))
                #expect(await connection.isClosedByPeer())
            }
            var iterator = reports.makeAsyncIterator()
            let report = try #require(await iterator.next())
            #expect(report.code == 504 && report.failure == .idleTimeout)
        }
    }

    /// A function may answer on the head alone (as nginx' `return` does); a small rest of the
    /// body is then read and dropped so the caller's connection stays usable.
    @Test func aSmallRestAfterAnEarlyAnswerIsDroppedAndTheConnectionKept() async throws {
        try await withProxy { _, agent, client in
            try await deploy("quick", in: "main", client: client, agent: agent)
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let writer = connection.writer
                try await writer.start(
                    .POST, "http://\(host("quick"))/", headers: [("Host", host("quick")), ("Content-Length", "2000"), ("Kubesim-Status", "503")])
                try await writer.send(ByteBuffer(repeating: 0x61, count: 1000))
                let early = try await connection.readResponse()
                #expect(early.status == 503)
                #expect(early.headers["Connection"].allSatisfy { $0.lowercased() != "close" })
                try await writer.send(ByteBuffer(repeating: 0x61, count: 1000))
                try await writer.finish()
                let next = try await connection.request(
                    .POST, "http://\(host("quick"))/", headers: [("Host", host("quick"))], body: Array("again".utf8))
                #expect(next.status == 200 && next.text == "again", "the same connection serves the next call")
            }
        }
    }

    @Test func theDeadlineIsHonouredWith504() async throws {
        let configure: (inout AgentSettings) -> Void = { $0.defaultDeadline = .milliseconds(400) }
        try await withProxy(configure: configure) { _, agent, client in
            try await deploy("slow", in: "main", client: client, agent: agent)
            let reports = agent.agent.proxy.reports()
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                // Direktiv-Deadline 300 ms ahead; the function takes 5 s.
                let headers =
                    direktivHeaders(action: "late", deadline: Date().addingTimeInterval(0.3)) + [
                        ("Host", host("slow")), ("Kubesim-Delay-Ms", "5000"),
                    ]
                let late = try await connection.request(.POST, "http://\(host("slow"))/", headers: headers, body: Array("{}".utf8))
                #expect(late.status == 504)
                #expect(late.text.contains("deadline"))
            }
            // Without the header, the configured default deadline applies.
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let late = try await connection.request(
                    .POST, "http://\(host("slow"))/", headers: [("Host", host("slow")), ("Kubesim-Delay-Ms", "5000")], body: Array("{}".utf8))
                #expect(late.status == 504)
            }
            // A deadline already past is answered at once.
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                let headers = direktivHeaders(action: "past", deadline: Date().addingTimeInterval(-1)) + [("Host", host("slow"))]
                let late = try await connection.request(.POST, "http://\(host("slow"))/", headers: headers, body: Array("{}".utf8))
                #expect(late.status == 504)
            }
            var iterator = reports.makeAsyncIterator()
            for _ in 0..<3 {
                let report = try #require(await iterator.next())
                #expect(report.code == 504 && report.failure == .deadline)
                #expect(report.duration < .seconds(4))
            }
        }
    }

    @Test func aCallerLeavingCancelsTheCall() async throws {
        try await withProxy { sim, agent, client in
            let record = try await deploy("abandoned", in: "team-a", client: client, agent: agent)
            let reports = agent.agent.proxy.reports()
            let arrived = sim.functions!.requests()
            let call = Task {
                try await withHTTP1Connection(port: agent.proxyPort) { connection in
                    _ = try await connection.request(
                        .POST, "http://\(host("abandoned"))/", headers: [("Host", host("abandoned")), ("Kubesim-Delay-Ms", "60000")],
                        body: Array("{}".utf8))
                }
            }
            // Leave once the function has the call.
            _ = try await next(arrived) { $0.host == host("abandoned") }
            call.cancel()
            let report = try await next(reports) { $0.target.function == "abandoned" }
            #expect(report.code == 499)
            #expect(report.duration < .seconds(30))
            let metrics = String(buffer: agent.prometheus.render())
            #expect(
                metrics.contains(
                    #"direktiv_dispatch_invocations_total{direktiv_namespace="team-a",function="abandoned",cluster="\#(record.cluster!)",code="499"} 1"#
                ))
            #expect(metrics.contains(#"direktiv_dispatch_invocations_in_flight{cluster="\#(record.cluster!)"} 0"#))
        }
    }

    @Test func metricsCountCallsPerFunctionAndClusterWithColdStarts() async throws {
        try await withProxy { _, agent, client in
            let record = try await deploy("counted", in: "team-b", client: client, agent: agent)
            let cluster = try #require(record.cluster)
            try await withHTTP1Connection(port: agent.proxyPort) { connection in
                for index in 0..<3 {
                    let response = try await connection.request(
                        .POST, "http://\(host("counted"))/", headers: direktivHeaders(action: "a\(index)") + [("Host", host("counted"))],
                        body: Array("{}".utf8))
                    #expect(response.status == 200)
                }
                let failed = try await connection.request(
                    .POST, "http://\(host("counted"))/", headers: [("Host", host("counted")), ("Kubesim-Status", "500")], body: Array("{}".utf8))
                #expect(failed.status == 500)
            }
            let metrics = String(buffer: agent.prometheus.render())
            let labels = #"direktiv_namespace="team-b",function="counted",cluster="\#(cluster)""#
            #expect(metrics.contains("direktiv_dispatch_invocations_total{\(labels),code=\"200\"} 3"))
            #expect(metrics.contains("direktiv_dispatch_invocations_total{\(labels),code=\"500\"} 1"))
            #expect(metrics.contains("direktiv_dispatch_invocation_duration_seconds_count{\(labels)} 4"))
            #expect(metrics.contains("direktiv_dispatch_invocation_duration_seconds_bucket{\(labels),le=\"300.0\"} 4"))
            #expect(metrics.contains("direktiv_dispatch_cold_starts_total{cluster=\"\(cluster)\"} 1"))
            #expect(metrics.contains("direktiv_dispatch_first_invocation_duration_seconds_count{cluster=\"\(cluster)\"} 1"))
            // The function servers add 15 ms (external1) or 40 ms (external2): no call is faster.
            let latency = try #require(agent.agent.statistics.latency(cluster: cluster))
            #expect(latency.p50 >= .milliseconds(15))
            #expect(latency.samples == 4)
        }
    }

    @Test(.enabled(if: Promtool.path != nil, "promtool (Debian package prometheus) is not installed"))
    func scrapePassesPromtool() async throws {
        try await withProxy { _, agent, client in
            try await deploy("scraped", in: "team-a", client: client, agent: agent)
            _ = try await withHTTP1Connection(port: agent.proxyPort) { connection in
                _ = try await connection.request(.POST, "http://\(host("scraped"))/", headers: [("Host", host("scraped"))], body: Array("{}".utf8))
                _ = try await connection.request(.GET, "http://169.254.169.254/", headers: [("Host", "169.254.169.254")])
            }
            // The latency gauges come with the first read of Liqo's Connections after the inventory synced.
            let state = agent.agent.state
            #expect(try await eventually { !state.latencies.isEmpty })
            let scrape = try await withHTTP1Connection(port: agent.adminPort) {
                try await $0.request(.GET, "/metrics", headers: [("Host", "127.0.0.1")])
            }
            #expect(scrape.status == 200)
            #expect(scrape.headers["Content-Type"] == ["text/plain; version=0.0.4; charset=utf-8"])
            // Everything but what only failures create, and what only Direktiv namespace discovery (--direktiv-api) does.
            for name in DispatchMetrics.help.keys
            where ![
                DispatchMetrics.Name.rulesReloadFailures, DispatchMetrics.Name.upstreamErrors, DispatchMetrics.Name.failovers,
                DispatchMetrics.Name.strandedFunctions, DispatchMetrics.Name.direktivAPIFailures, DispatchMetrics.Name.direktivNamespacesDiscovered,
            ].contains(name) {
                #expect(scrape.text.contains("# TYPE \(name) "), "\(name) is not exported")
            }
            let result = try await Promtool.check(scrape.body)
            #expect(result.status == 0, "promtool check metrics: \(result.output)")
        }
    }
}
