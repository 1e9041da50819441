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
