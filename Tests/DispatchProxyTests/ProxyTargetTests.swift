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
