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
