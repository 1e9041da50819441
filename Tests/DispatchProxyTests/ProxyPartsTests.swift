import DispatchAgent
import DispatchCore
import DispatchMetrics
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import DispatchPrometheus
@testable import DispatchProxy

/// The proxy's pure parts: which targets pass, which headers cross, timers, failures.
@Suite struct ProxyTargetTests {
    let namespaces = ["direktiv-services-direktiv"]

    func resolve(_ target: String, method: String = "POST") -> Result<ProxyTarget, ProxyTarget.Refusal> {
        Result { () throws(ProxyTarget.Refusal) in try ProxyTarget.resolve(method: method, target: target, functionsNamespaces: namespaces) }
    }

    @Test(arguments: [
        "http://fn.direktiv-services-direktiv/",
        "http://fn.direktiv-services-direktiv.svc/",
        "http://fn.direktiv-services-direktiv.svc.cluster.local/",
        "http://FN.Direktiv-Services-Direktiv.svc.cluster.local.:80/",
        "http://fn.direktiv-services-direktiv",
    ])
    func directivURLFormsResolveToTheFunction(target: String) throws {
        let resolved = try resolve(target).get()
        #expect(resolved.function == "fn")
        #expect(resolved.namespace == "direktiv-services-direktiv")
        #expect(resolved.pathAndQuery == "/")
        #expect(resolved.canonicalHost == "fn.direktiv-services-direktiv.svc.cluster.local")
    }

    @Test func pathQueryAndReverseFormAreKept() throws {
        #expect(try resolve("http://fn.direktiv-services-direktiv/up?x=1").get().pathAndQuery == "/up?x=1")
        #expect(try resolve("http://fn.direktiv-services-direktiv?x=1").get().pathAndQuery == "/?x=1")
        let reverse = try resolve("/functions/direktiv-services-direktiv/fn/cancel?id=2").get()
        #expect(reverse.function == "fn" && reverse.pathAndQuery == "/cancel?id=2")
        #expect(reverse.host == "fn.direktiv-services-direktiv.svc.cluster.local")
        #expect(try resolve("/functions/direktiv-services-direktiv/fn").get().pathAndQuery == "/")
    }

    @Test(arguments: [
        ("http://169.254.169.254/latest/meta-data", "ip_literal"),
        ("http://2130706433/", "ip_literal"),
        ("http://0x7f.1/", "ip_literal"),
        ("http://[::1]/", "ip_literal"),
        ("http://[fd00::1]:80/", "ip_literal"),
        ("http://localhost/", "not_a_function_host"),
        ("http://metadata.google.internal/", "not_a_function_host"),
        ("http://kubernetes.default.svc/", "namespace"),
        ("http://fn.default.svc.cluster.local/", "namespace"),
        ("http://fn.direktiv-services-direktiv:8080/", "port"),
        ("http://fn.direktiv-services-direktiv:/", "port"),
        ("https://fn.direktiv-services-direktiv/", "scheme"),
        ("http://user:pw@fn.direktiv-services-direktiv/", "malformed"),
        ("fn.direktiv-services-direktiv", "malformed"),
        ("/functions/default/fn/", "namespace"),
        ("/functions/direktiv-services-direktiv/", "malformed"),
        ("/metrics", "not_a_function_host"),
        ("http://fn.direktiv-services-direktiv.svc.cluster.evil/", "not_a_function_host"),
        ("http://a.b.fn.direktiv-services-direktiv/", "not_a_function_host"),
    ])
    func everythingElseIsRefused(target: String, reason: String) {
        guard case .failure(let refusal) = resolve(target) else {
            Issue.record("\(target) was not refused")
            return
        }
        #expect(refusal.reason == reason, "\(target): \(refusal)")
    }

    @Test func connectIsRefused() {
        guard case .failure(let refusal) = resolve("fn.direktiv-services-direktiv:443", method: "CONNECT") else {
            Issue.record("CONNECT passed")
            return
        }
        #expect(refusal == .connect)
    }
}

@Suite struct ProxyHeadersTests {
    let target = ProxyTarget(function: "fn", namespace: "ns", host: "fn.ns", pathAndQuery: "/up?x=1")

    func head(_ text: String, _ kind: HTTPHead.Kind = .request) throws -> HTTPHead {
        try HTTPHead(parsing: ByteBuffer(string: text), kind: kind)
    }

    func upstream(_ text: String, client: String? = "10.1.2.3") throws -> String {
        var buffer = ByteBuffer()
        ProxyHeaders.writeUpstreamHead(try head(text), target: target, client: client, into: &buffer)
        return String(buffer: buffer)
    }

    @Test func hopByHopAndConnectionNamedHeadersStayBehind() throws {
        let sent =
            "POST http://fn.ns/ HTTP/1.1\r\nHost: fn.ns\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
            + "Proxy-Authorization: Basic x\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
            + "Direktiv-Files: a\r\nDirektiv-Files: b\r\ntraceparent: 00-1-2-01\r\nDirektiv-ActionID: x\r\n\r\n"
        #expect(
            try upstream(sent) == "POST /up?x=1 HTTP/1.1\r\nContent-Length: 2\r\nDirektiv-Files: a\r\nDirektiv-Files: b\r\ntraceparent: 00-1-2-01\r\n"
                + "Direktiv-ActionID: x\r\nHost: fn.ns\r\nX-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;host=fn.ns;proto=http\r\n\r\n")
    }

    @Test func forwardingRecordsAppend() throws {
        let sent = "GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nForwarded: for=1.1.1.1\r\n\r\n"
        #expect(
            try upstream(sent, client: "::1").hasSuffix(
                "X-Forwarded-For: 1.1.1.1, ::1\r\nForwarded: for=1.1.1.1, for=\"[::1]\";host=fn.ns;proto=http\r\n\r\n"))
        #expect(try upstream(sent, client: nil).hasSuffix("Host: fn.ns\r\nX-Forwarded-For: 1.1.1.1\r\nForwarded: for=1.1.1.1\r\n\r\n"))
    }

    @Test func aChunkedBodyStaysChunkedAndAListedLengthBecomesOne() throws {
        #expect(try upstream("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").contains("\r\nTransfer-Encoding: chunked\r\n"))
        let listed = try upstream("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n")
        #expect(listed.components(separatedBy: "Content-Length").count == 2 && listed.contains("Content-Length: 5\r\n"))
    }

    @Test func responsesKeepContentLengthAndDirektivHeaders() throws {
        let answer = try head(
            "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nDirektiv-ErrorCode: io.x\r\nDirektiv-ErrorMessage: m\r\n\r\n",
            .response)
        var buffer = ByteBuffer()
        ProxyHeaders.writeDownstreamHead(answer, framing: .init(callerMinorVersion: 1, close: false, dechunked: false), into: &buffer)
        #expect(String(buffer: buffer) == "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nDirektiv-ErrorCode: io.x\r\nDirektiv-ErrorMessage: m\r\n\r\n")
        // An HTTP/1.0 caller gets the data without chunks and learns the end from the close.
        let chunked = try head("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n", .response)
        buffer.clear()
        ProxyHeaders.writeDownstreamHead(chunked, framing: .init(callerMinorVersion: 0, close: true, dechunked: true), into: &buffer)
        #expect(String(buffer: buffer) == "HTTP/1.0 201 Created\r\nConnection: close\r\n\r\n")
        // No reason phrase still has the space before it; lines around a dropped one stay in order.
        let bare = try head("HTTP/1.1 204\r\nA: 1\r\nConnection: close\r\nB: 2\r\nC: 3\r\n\r\n", .response)
        buffer.clear()
        ProxyHeaders.writeDownstreamHead(bare, framing: .init(callerMinorVersion: 1, close: false, dechunked: false), into: &buffer)
        #expect(String(buffer: buffer) == "HTTP/1.1 204 \r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
    }
}

@Suite struct InvocationClockTests {
    let start = ContinuousClock.now

    @Test func idleTimeoutAppliesOnlyWhileBytesAreExpected() {
        var clock = InvocationClock(start: start, deadline: start + .seconds(300), idleTimeout: .seconds(10))
        #expect(clock.expired(at: start + .seconds(9)) == nil)
        #expect(clock.expired(at: start + .seconds(11)) == .idleTimeout)
        clock.activity(at: start + .seconds(5), phase: .awaitingHead)
        // The function works for minutes: only the deadline bounds that.
        #expect(clock.expired(at: start + .seconds(200)) == nil)
        #expect(clock.nextCheck() == start + .seconds(300))
        clock.activity(at: start + .seconds(200), phase: .receivingBody)
        #expect(clock.nextCheck() == start + .seconds(210))
        #expect(clock.expired(at: start + .seconds(211)) == .idleTimeout)
        #expect(clock.expired(at: start + .seconds(301)) == .deadline)
        clock.activity(at: start + .seconds(205), phase: .finished)
        #expect(clock.expired(at: start + .seconds(400)) == nil)
    }

    @Test func deadlineWinsOverALongIdleTimeout() {
        let clock = InvocationClock(start: start, deadline: start + .seconds(1), idleTimeout: .seconds(60))
        #expect(clock.nextCheck() == start + .seconds(1))
        #expect(clock.expired(at: start + .seconds(2)) == .deadline)
    }
}

@Suite struct ProxyConnectionStateMachineTests {
    @Test func quiescingClosesIdleConnectionsAtOnceAndBusyOnesAfterTheResponse() {
        var idle = ProxyConnectionStateMachine()
        #expect(idle.shouldQuiesce() == .close)

        var busy = ProxyConnectionStateMachine()
        busy.requestHeadReceived()
        #expect(busy.shouldQuiesce() == .none)
        #expect(busy.closesAfterResponse)
        #expect(busy.responseEndWritten() == .closeAfterFlush)
        #expect(busy.idleTimeoutFired() == .none, "nothing closes the connection under its last response")
        #expect(busy.lastResponseFlushed() == .lingerThenClose)
        #expect(busy.isLingering)
        #expect(busy.inputClosed() == .close)
        #expect(!busy.isLingering)
    }

    @Test func idleTimeoutSparesBusyConnections() {
        var machine = ProxyConnectionStateMachine()
        machine.requestHeadReceived()
        #expect(machine.idleTimeoutFired() == .none)
        #expect(machine.responseEndWritten() == .none)
        #expect(machine.idleTimeoutFired() == .close)
        #expect(machine.inputClosed() == .none)
    }

    @Test func aCallerClosingItsSideEndsTheConnection() {
        var machine = ProxyConnectionStateMachine()
        machine.requestHeadReceived()
        #expect(machine.inputClosed() == .close)
    }

    @Test func anUnfinishedUploadEndsWithTheResponseAfterLingering() {
        var machine = ProxyConnectionStateMachine()
        machine.requestHeadReceived()
        machine.closeAfterResponse()
        #expect(!machine.closesAfterResponse)
        #expect(machine.responseEndWritten() == .closeAfterFlush)
        #expect(machine.lastResponseFlushed() == .lingerThenClose)
        #expect(machine.lingerTimeoutFired() == .close)
        #expect(machine.inputClosed() == .none)
        #expect(machine.lastResponseFlushed() == .none)
    }

    @Test func aCallerClosingWhileTheLastResponseFlushesClosesAfterTheFlush() {
        var machine = ProxyConnectionStateMachine()
        machine.requestHeadReceived()
        machine.closeAfterResponse()
        #expect(machine.responseEndWritten() == .closeAfterFlush)
        #expect(machine.inputClosed() == .none)
        #expect(machine.shouldQuiesce() == .none)
        #expect(machine.lastResponseFlushed() == .close)
        #expect(!machine.isLingering)
    }
}

@Suite struct UpstreamFailureTests {
    @Test func connectionErrorsMapToDirektivsRetryableStatuses() {
        #expect(UpstreamFailure(IOError(errnoCode: ECONNREFUSED, reason: "connect")) == .refused)
        #expect(UpstreamFailure(IOError(errnoCode: ECONNRESET, reason: "read")) == .upstreamClosed)
        #expect(UpstreamFailure(ChannelError.connectTimeout(.seconds(1))) == .connectTimeout)
        #expect(UpstreamFailure(ChannelError.eof) == .upstreamClosed)
        #expect(UpstreamFailure(SocketAddressError.unsupported) == .unresolvable)
        #expect(UpstreamFailure(HTTPParserError.invalidStatus) == .other)
        #expect(UpstreamFailure.refused.status == .badGateway)
        #expect(UpstreamFailure.unresolvable.status == .badGateway)
        #expect(UpstreamFailure.upstreamClosed.status == .badGateway)
        #expect(UpstreamFailure.deadline.status == .gatewayTimeout)
        #expect(UpstreamFailure.connectTimeout.status == .gatewayTimeout)
    }

    /// What the proxy's own pool reports for a closed port and a name that does not resolve.
    @Test func realConnectionFailuresAreClassified() async throws {
        let port = try TestSupportPorts.closed()
        #expect(try await connectFailure("127.0.0.1", port) == .refused)
        #expect(try await connectFailure("no-such-host.invalid", 80) == .unresolvable)
    }

    func connectFailure(_ host: String, _ port: Int) async throws -> UpstreamFailure? {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        return try await loop.flatSubmit {
            let pool = UpstreamConnectionPool(
                eventLoop: loop, settings: .init(connectTimeout: .seconds(1), idleTimeout: .seconds(60), maximumIdlePerHost: 8))
            let promise = loop.makePromise(of: UpstreamFailure?.self)
            pool.connect(.init(host: host, port: port)) { result in
                switch result {
                case .success(let connection):
                    connection.close()
                    promise.succeed(nil)
                case .failure(let error):
                    promise.succeed(UpstreamFailure(error))
                }
            }
            return promise.futureResult
        }.get()
    }
}

enum TestSupportPorts {
    /// A loopback port nothing listens on.
    static func closed() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress!.port!
        try channel.close().wait()
        return port
    }
}

@Suite struct SmallProxyPartsTests {
    /// Defect 2 of the hardening review: a deadline ~292 years ahead overflowed
    /// `Duration.nanoseconds` when the call timer was re-armed, and the process died. The time
    /// left is clamped to a day either way, and the conversion saturates.
    @Test func farDeadlinesAreClampedAndNanosecondsSaturate() throws {
        let now = try Date("2026-11-25T10:00:00Z", strategy: .iso8601)
        #expect(DirektivDeadline.remaining("9999-12-31T23:59:59Z", now: now) == DirektivDeadline.maximum)
        #expect(DirektivDeadline.remaining("0001-01-01T00:00:00Z", now: now) == .zero - DirektivDeadline.maximum)
        #expect(DirektivDeadline.remaining("+999999-01-01T00:00:00Z", now: now).map { $0 <= DirektivDeadline.maximum } ?? true)
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
        #expect((Duration.zero - .seconds(Int64.max)).nanoseconds == .min)
        #expect(Duration.seconds(9_223_372_036).nanoseconds == 9_223_372_036_000_000_000)
        #expect(Duration.milliseconds(1500).nanoseconds == 1_500_000_000)
    }

    /// Defect 9: refusals echoed the requested target in full (60 KB tried).
    @Test func refusalsEchoAtMostAShortPrefix() {
        let long = "http://" + String(repeating: "a", count: 60_000) + ".example/"
        guard
            case .failure(let refusal) = Result(catching: { () throws(ProxyTarget.Refusal) in
                try ProxyTarget.resolve(method: "GET", target: long, functionsNamespaces: ["direktiv-services-direktiv"])
            })
        else {
            Issue.record("the target passed")
            return
        }
        #expect(refusal.description.utf8.count < 300, "\(refusal.description.utf8.count) bytes")
        #expect(refusal.description.contains("(60008 bytes)"), "the host is echoed, cut, with its length")
    }

    @Test func direktivDeadlinesAreRFC3339() throws {
        let now = try Date("2026-11-25T10:00:00Z", strategy: .iso8601)
        #expect(DirektivDeadline.remaining("2026-11-25T10:00:30Z", now: now) == .seconds(30))
        #expect(DirektivDeadline.remaining("2026-11-25T10:00:00.250Z", now: now) == .milliseconds(250))
        #expect(DirektivDeadline.remaining("2026-11-25T11:00:05+01:00", now: now) == .seconds(5))
        #expect(DirektivDeadline.remaining("2026-11-25T09:59:59Z", now: now) == .seconds(-1))
        #expect(DirektivDeadline.remaining("tomorrow", now: now) == nil)
        #expect(DirektivDeadline.remaining(nil, now: now) == nil)
        // From a request's bytes, as the proxy reads it on every call.
        func head(_ fields: String) throws -> HTTPHead {
            try HTTPHead(parsing: ByteBuffer(string: "POST / HTTP/1.1\r\n\(fields)\r\n"), kind: .request)
        }
        #expect(DirektivDeadline.remaining(in: try head("direktiv-deadline: 2026-11-25T10:00:30.5Z\r\n"), now: now) == .milliseconds(30500))
        #expect(DirektivDeadline.remaining(in: try head("Direktiv-Deadline: tomorrow\r\n"), now: now) == nil)
        #expect(DirektivDeadline.remaining(in: try head("Host: x\r\n"), now: now) == nil)
    }

    /// The fast reader agrees with Foundation on every form Go's RFC 3339 writers produce, and
    /// refuses what is not RFC 3339.
    @Test func theFastDeadlineReaderAgreesWithFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(secondsFromGMT: 0)!)
        for _ in 0..<2000 {
            let date = Date(
                timeIntervalSince1970: Double(Int64.random(in: -2_000_000_000...8_000_000_000, using: &generator)) + Double(
                    Int.random(in: 0..<1000, using: &generator)) / 1000)
            let text = date.formatted(format)
            let fast = try #require(DirektivDeadline.secondsSince1970(text), "\(text)")
            #expect(abs(fast - (try Date(text, strategy: format)).timeIntervalSince1970) < 0.000_001, "\(text)")
        }
        let foundation = { (text: String) in try Date(text, strategy: .iso8601).timeIntervalSince1970 }
        for text in ["2024-02-29T23:59:59Z", "2000-03-01T00:00:00+01:00", "1999-12-31T23:00:00-05:30", "2026-12-02T18:19:22z"] {
            #expect(try DirektivDeadline.secondsSince1970(text) == foundation(text.uppercased()), "\(text)")
        }
        #expect(DirektivDeadline.secondsSince1970("2026-11-25T10:00:30.123456789Z")! - 1_795_000_000 > 0)
        for text in [
            "2026-11-25 10:00:30", "2026-13-01T00:00:00Z", "2026-11-25T10:00:30", "2026-11-25T10:00:30.Z", "2026-11-25T10:00:30Zjunk", "tomorrow", "",
        ] {
            #expect(DirektivDeadline.secondsSince1970(text) == nil, "\(text)")
        }
    }

    @Test func resolverFilesAreStrict() throws {
        let table = try ResolverFile.parse(
            Data(#"{"hosts": {"Fn.NS.svc.cluster.local": "127.0.10.2:4001", "b.ns.svc.cluster.local": "[::1]:80"}}"#.utf8))
        #expect(
            table == ["fn.ns.svc.cluster.local": .address(host: "127.0.10.2", port: 4001), "b.ns.svc.cluster.local": .address(host: "::1", port: 80)])
        #expect(throws: ResolverFile.FormatError.self) { try ResolverFile.parse(Data(#"{"hosts": {"a": "nowhere"}}"#.utf8)) }
        #expect(throws: ResolverFile.FormatError.self) { try ResolverFile.parse(Data(#"{"hosts": ["a"]}"#.utf8)) }
        #expect(throws: ResolverFile.FormatError.self) { try ResolverFile.parse(Data("{".utf8)) }
        #expect(throws: ResolverFile.FormatError.self) { try ResolverFile.parse(Data(#"{"hosts": {"a": "[]:80"}}"#.utf8)) }
        let addresses = ["b.ns.svc.cluster.local": "[::1]:80", "d.ns.svc.cluster.local": "nowhere"]
        let resolver = FunctionAddressResolver.table { addresses[$0] }
        #expect(resolver.resolve(ProxyTarget(function: "d", namespace: "ns", pathAndQuery: "/")) == .unresolvable)
        let target = ProxyTarget(function: "b", namespace: "ns", host: "b.ns", pathAndQuery: "/")
        #expect(resolver.resolve(target) == .address(host: "::1", port: 80))
        #expect(resolver.resolve(ProxyTarget(function: "c", namespace: "ns", host: "c.ns", pathAndQuery: "/")) == .unresolvable)
    }

    @Test func helpLinesPrecedeEachMetricsType() {
        let exposition = Array("# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 2\n".utf8)
        let rendered = String(buffer: PrometheusBackend.addingHelp(to: exposition, help: ["a_total": "As counted.\nTwo lines \\ one slash."]))
        #expect(rendered == "# HELP a_total As counted.\\nTwo lines \\\\ one slash.\n# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 2\n")
    }
}

extension HTTPHeaders {
    init(_ pairs: [(String, String)]) {
        self.init()
        for (name, value) in pairs { add(name: name, value: value) }
    }
}
