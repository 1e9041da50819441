import NIOCore
import Testing

@testable import DispatchProxy

/// What the proxy keeps from call to call to do less per call: resolved targets, joined writes.
@Suite struct ProxyTargetCacheTests {
    let namespaces = ["direktiv-services-direktiv"]
    /// The rules' namespaces as the proxy reads them; one per test, as one per agent.
    let published = Published(["direktiv-services-direktiv"])

    func head(_ method: String = "POST", _ target: String) throws -> HTTPHead {
        try HTTPHead(parsing: ByteBuffer(string: "\(method) \(target) HTTP/1.1\r\nHost: x\r\n\r\n"), kind: .request)
    }

    func resolve(
        _ cache: inout ProxyTargetCache, _ target: String, method: String = "POST", namespaces: Published<[String]>? = nil
    ) throws -> Result<ProxyTarget, ProxyTarget.Refusal> {
        let head = try head(method, target)
        let namespaces = namespaces ?? published
        return Result { () throws(ProxyTarget.Refusal) in try cache.target(of: head, functionsNamespaces: namespaces) }
    }

    @Test func aRepeatedTargetResolvesAsTheFirstTime() throws {
        var cache = ProxyTargetCache()
        for target in ["http://fn.direktiv-services-direktiv/up?x=1", "/functions/direktiv-services-direktiv/fn/cancel?id=2"] {
            let expected = try ProxyTarget.resolve(method: "POST", target: target, functionsNamespaces: namespaces)
            #expect(try resolve(&cache, target).get() == expected)
            #expect(try resolve(&cache, target).get() == expected)
        }
        #expect(cache.count == 2)
    }

    @Test func aKeptTargetIsStillRefusedToConnect() throws {
        var cache = ProxyTargetCache()
        let target = "/functions/direktiv-services-direktiv/fn/"
        _ = try resolve(&cache, target).get()
        #expect(try resolve(&cache, target, method: "CONNECT") == .failure(.connect))
        #expect(try resolve(&cache, target, method: "connect") == .failure(.connect))
    }

    @Test func refusalsAreNotKeptAndANamespaceChangeStartsOver() throws {
        var cache = ProxyTargetCache()
        #expect(try resolve(&cache, "http://169.254.169.254/") == .failure(.ipLiteral("169.254.169.254")))
        #expect(cache.count == 0)
        let target = "http://fn.team-a/"
        let published = Published(["team-a"])
        #expect(try resolve(&cache, target, namespaces: published).get().namespace == "team-a")
        // The rules dropped the namespace: what was kept must not let calls through.
        published.value = ["team-b"]
        #expect(try resolve(&cache, target, namespaces: published) == .failure(.namespace("team-a")))
        #expect(cache.count == 0)
    }

    @Test func aPublishedValueChangesItsVersionOnlyWhenItChanges() throws {
        let published = Published(["team-a"])
        let version = try #require(published.ifChanged(since: 0)).version
        published.value = ["team-a"]
        #expect(published.ifChanged(since: version) == nil)
        published.value = ["team-b"]
        let changed = try #require(published.ifChanged(since: version))
        #expect(changed.version != version && changed.value == ["team-b"])
    }

    @Test func theCacheStaysBounded() throws {
        var cache = ProxyTargetCache()
        for index in 0..<(ProxyTargetCache.capacity + 10) {
            _ = try resolve(&cache, "http://fn.direktiv-services-direktiv/\(index)").get()
        }
        #expect(cache.count <= ProxyTargetCache.capacity)
        #expect(cache.count > 0)
        // Long targets resolve but are not kept: the cache's memory stays bounded.
        var fresh = ProxyTargetCache()
        let long = "/functions/direktiv-services-direktiv/fn/" + String(repeating: "a", count: ProxyTargetCache.maximumTargetBytes)
        #expect(try resolve(&fresh, long).get().function == "fn")
        #expect(fresh.count == 0)
    }
}

@Suite struct WriteCoalescerTests {
    func buffer(_ count: Int, _ byte: UInt8) -> ByteBuffer {
        ByteBuffer(repeating: byte, count: count)
    }

    @Test func smallWritesLeaveAsOneBufferInOrder() {
        var coalescer = WriteCoalescer()
        var emitted: [ByteBuffer] = []
        coalescer.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n")) { emitted.append($0) }
        coalescer.write(ByteBuffer(string: "{\"ok\":1}")) { emitted.append($0) }
        #expect(emitted.isEmpty)
        #expect(!coalescer.isEmpty)
        #expect(coalescer.take() == ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n{\"ok\":1}"))
        #expect(coalescer.isEmpty)
        #expect(coalescer.take() == nil)
    }

    @Test func largeBuffersFollowWhatIsHeldUncopied() {
        var coalescer = WriteCoalescer()
        var emitted: [ByteBuffer] = []
        let large = buffer(WriteCoalescer.limit + 1, 2)
        coalescer.write(buffer(10, 1)) { emitted.append($0) }
        coalescer.write(large) { emitted.append($0) }
        #expect(emitted == [buffer(10, 1), large])
        #expect(coalescer.isEmpty)
        // A large first write passes straight on.
        coalescer.write(large) { emitted.append($0) }
        #expect(emitted.count == 3)
        #expect(coalescer.isEmpty)
    }

    @Test func whatDoesNotFitStartsTheNextBuffer() {
        var coalescer = WriteCoalescer()
        var emitted: [ByteBuffer] = []
        coalescer.write(buffer(WriteCoalescer.limit - 10, 1)) { emitted.append($0) }
        coalescer.write(buffer(20, 2)) { emitted.append($0) }
        #expect(emitted == [buffer(WriteCoalescer.limit - 10, 1)])
        #expect(coalescer.take() == buffer(20, 2))
    }
}

/// The head parser's byte classes, checked eight bytes at a time, against their definitions.
@Suite struct HeadByteClassesTests {
    typealias Parser = HTTPHead.Parser

    @Test func tokenCharactersAreRFC9110sTchar() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(Parser.isTokenCharacter(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }

    /// Every byte value at every position of runs up to 19 bytes: the word path, the tail and their seam.
    @Test func runsAreCheckedLikeTheirBytes() {
        for length in 1...19 {
            for position in 0..<length {
                for byte in UInt8.min...UInt8.max {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length + 2)
                    bytes[1 + position] = byte
                    bytes.withUnsafeBytes { raw in
                        let range = 1..<1 + length
                        #expect(Parser.allFieldValueCharacters(raw, range) == Parser.isFieldValueCharacter(byte))
                        #expect(Parser.allVisibleASCII(raw, range) == (byte > 0x20 && byte < 0x7F))
                    }
                }
            }
        }
    }

    @Test func wordTestsAgreeWithTheirBytes() {
        var generator = SystemRandomNumberGenerator()
        let interesting: [UInt8] = [0x00, 0x01, 0x09, 0x1F, 0x20, 0x21, 0x7E, 0x7F, 0x80, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<8).map { _ in
                Bool.random(using: &generator) ? interesting.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            #expect(Parser.Word.hasByte(below: 0x20, in: word) == bytes.contains { $0 < 0x20 }, "\(bytes)")
            #expect(Parser.Word.hasByte(below: 0x21, in: word) == bytes.contains { $0 < 0x21 }, "\(bytes)")
            #expect(Parser.Word.hasByte(above: 0x7E, in: word) == bytes.contains { $0 > 0x7E }, "\(bytes)")
            #expect(Parser.Word.hasByte(equalTo: 0x7F, in: word) == bytes.contains(0x7F), "\(bytes)")
        }
    }
}

/// The fields a caller's connection adds to every request, written once per function host.
@Suite struct AddedFieldsTests {
    let target = ProxyTarget(function: "fn", namespace: "ns", host: "fn.ns", pathAndQuery: "/")

    func written(_ text: String, added: ProxyHeaders.AddedFields?) throws -> String {
        let head = try HTTPHead(parsing: ByteBuffer(string: text), kind: .request)
        var buffer = ByteBuffer()
        if let added {
            ProxyHeaders.writeUpstreamHead(head, target: target, added: added, into: &buffer)
        } else {
            ProxyHeaders.writeUpstreamHead(head, target: target, client: "10.0.0.7", into: &buffer)
        }
        return String(buffer: buffer)
    }

    @Test func reusedFieldsStillCarryTheForwardingValuesARequestBrought() throws {
        let added = ProxyHeaders.AddedFields(host: target.host, client: "10.0.0.7")
        for text in [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.1\r\nForwarded: for=192.0.2.1\r\n\r\n",
            "POST / HTTP/1.1\r\nForwarded: for=192.0.2.1\r\n\r\n",
        ] {
            #expect(try written(text, added: added) == written(text, added: nil))
        }
        #expect(
            try written("POST / HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n", added: added).contains("X-Forwarded-For: 192.0.2.1, 10.0.0.7\r\n"))
    }

    @Test func aPlainContentLengthPassesAsItCame() throws {
        let text = try written("POST / HTTP/1.1\r\ncontent-length:   7\r\n\r\n", added: nil)
        #expect(
            text
                == "POST / HTTP/1.1\r\ncontent-length:   7\r\nHost: fn.ns\r\nX-Forwarded-For: 10.0.0.7\r\nForwarded: for=10.0.0.7;host=fn.ns;proto=http\r\n\r\n"
        )
    }
}
