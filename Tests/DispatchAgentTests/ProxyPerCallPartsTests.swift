import NIOCore
import Testing

@testable import DispatchAgent

/// What the proxy keeps from call to call to do less per call: resolved targets, joined writes.
@Suite struct ProxyTargetCacheTests {
    let namespaces = ["direktiv-services-direktiv"]

    func head(_ method: String = "POST", _ target: String) throws -> HTTPHead {
        try HTTPHead(parsing: ByteBuffer(string: "\(method) \(target) HTTP/1.1\r\nHost: x\r\n\r\n"), kind: .request)
    }

    func resolve(_ cache: inout ProxyTargetCache, _ target: String, method: String = "POST", namespaces: [String]? = nil) throws -> Result<ProxyTarget, ProxyTarget.Refusal> {
        let head = try head(method, target)
        let namespaces = namespaces ?? self.namespaces
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
        #expect(try resolve(&cache, target, namespaces: ["team-a"]).get().namespace == "team-a")
        // The rules dropped the namespace: what was kept must not let calls through.
        #expect(try resolve(&cache, target, namespaces: ["team-b"]) == .failure(.namespace("team-a")))
        #expect(cache.count == 0)
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
