import DispatchDoctor
import Testing

/// NO_PROXY as Go's net/http reads it (golang.org/x/net/http/httpproxy), which Direktiv's engine
/// uses; the cases follow that package's own table.
@Suite struct NoProxyTests {
    @Test func namesMatchThemselvesAndTheirSubdomains() {
        let noProxy = NoProxy(" Foo.com , .bar.org,*.baz.net")
        #expect(noProxy.bypasses(host: "foo.com"))
        #expect(noProxy.bypasses(host: "www.foo.com"))
        #expect(!noProxy.bypasses(host: "barfoo.com"), "a suffix match needs the dot")
        #expect(noProxy.bypasses(host: "x.bar.org"))
        #expect(!noProxy.bypasses(host: "bar.org"), "a leading dot matches subdomains only")
        #expect(noProxy.bypasses(host: "x.baz.net"))
        #expect(!noProxy.bypasses(host: "baz.net"))
        #expect(!noProxy.bypasses(host: "example.com"))
    }

    @Test func addressesAndRangesMatchOnlyAddresses() {
        let noProxy = NoProxy("10.96.0.1,192.168.0.0/16,svc")
        #expect(noProxy.bypasses(host: "10.96.0.1"))
        #expect(!noProxy.bypasses(host: "10.96.0.2"))
        #expect(noProxy.bypasses(host: "192.168.44.1"))
        #expect(!noProxy.bypasses(host: "192.169.0.1"))
        #expect(noProxy.bypasses(host: "fn.ns.svc"))
        #expect(!noProxy.bypasses(host: "fn.ns.svc.cluster.local"), "svc is not a suffix of .svc.cluster.local names")
    }

    @Test func portsWildcardAndLoopback() {
        #expect(NoProxy("foo.com:8080").bypasses(host: "foo.com", port: 8080))
        #expect(!NoProxy("foo.com:8080").bypasses(host: "foo.com", port: 80))
        #expect(NoProxy("*").bypasses(host: "anything.example"))
        #expect(NoProxy("").bypasses(host: "localhost"), "Go never proxies loopback")
        #expect(NoProxy("").bypasses(host: "127.0.0.1"))
        #expect(!NoProxy("").bypasses(host: "fn.ns"))
    }
}
