import DispatchCore
import KubeModels
import Testing

/// Function containers lose the agent's proxy that Direktiv copies into them
/// (`buildEnvVars`: HTTP_PROXY, http_proxy, NO_PROXY, no_proxy appended after its own variables).
struct EgressProxyRewriteTests {
    static let agent = "http://direktiv-dispatch-proxy.direktiv-dispatch:8080"

    func env(_ pairs: [(String, String)]) -> JSONValue {
        .array(pairs.map { ["name": .string($0.0), "value": .string($0.1)] })
    }

    /// A Deployment (Direktiv 0.10) or Knative Service (0.8) pod template with both containers.
    func workload(proxy: String = agent) -> JSONValue {
        let user = env([
            ("DIREKTIV_APP", "x"), ("HTTP_PROXY", proxy), ("http_proxy", proxy), ("NO_PROXY", "kubernetes.default"),
            ("no_proxy", "kubernetes.default"),
        ])
        return [
            "spec": [
                "template": [
                    "spec": [
                        "initContainers": [["name": "init", "env": env([("http_proxy", proxy)])]],
                        "containers": [["name": "direktiv-container", "env": user], ["name": "direktiv-sidecar"]],
                    ]
                ]
            ]
        ]
    }

    func names(_ value: JSONValue?) -> [String] { (value?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } }

    @Test func theAgentsProxyIsRemovedAndEverythingElseStaysInOrder() throws {
        let rewrite = try #require(EgressProxyRewrite(agentProxyURL: Self.agent))
        let operations = rewrite.operations(for: workload())
        #expect(operations.map(\.path) == ["/spec/template/spec/initContainers/0/env", "/spec/template/spec/containers/0/env"])
        #expect(operations.map(\.op) == [.replace, .replace])
        #expect(names(operations[1].value) == ["DIREKTIV_APP", "NO_PROXY", "no_proxy"])
        #expect(names(operations[0].value) == [])
        let patched = try JSONPatch.apply(operations, to: workload())
        #expect(try JSONPatch.apply(operations, to: patched) == patched, "applied again it changes nothing")
        #expect(rewrite.operations(for: patched).isEmpty, "nothing left to rewrite")
    }

    @Test(arguments: [
        "HTTP://Direktiv-Dispatch-Proxy.direktiv-dispatch:8080/", "direktiv-dispatch-proxy.direktiv-dispatch:8080",
        " http://direktiv-dispatch-proxy.direktiv-dispatch:8080// ",
    ])
    func theSameURLWrittenDifferentlyMatches(_ written: String) throws {
        let rewrite = try #require(EgressProxyRewrite(agentProxyURL: Self.agent))
        #expect(!rewrite.operations(for: workload(proxy: written)).isEmpty)
    }

    @Test func defaultPortsAreTheSameAsNoPort() {
        #expect(ProxyURL("http://proxy") == ProxyURL("http://PROXY:80/"))
        #expect(ProxyURL("https://proxy") == ProxyURL("https://proxy:443"))
        #expect(ProxyURL("http://proxy") != ProxyURL("https://proxy"))
        #expect(ProxyURL("http://[::1]:8080") == ProxyURL("http://[::1]:8080/"))
    }

    @Test(arguments: ["", "ftp://proxy", "http://", "http://proxy:0", "http://proxy:99999", "http://[::1", "http://proxy:80x"])
    func unusableURLsAreRefused(_ text: String) {
        #expect(ProxyURL(text) == nil)
    }

    @Test func aForeignProxyOrASecretReferenceIsLeftAlone() throws {
        let rewrite = try #require(EgressProxyRewrite(agentProxyURL: Self.agent))
        #expect(rewrite.operations(for: workload(proxy: "http://corporate-proxy:3128")).isEmpty)
        let fromSecret: JSONValue = [
            "spec": [
                "template": [
                    "spec": [
                        "containers": [
                            [
                                "name": "c",
                                "env": [
                                    ["name": "HTTP_PROXY", "value": .string(Self.agent), "valueFrom": ["secretKeyRef": ["name": "s", "key": "k"]]]
                                ],
                            ]
                        ]
                    ]
                ]
            ]
        ]
        #expect(rewrite.operations(for: fromSecret).isEmpty)
        #expect(rewrite.operations(for: ["spec": ["template": ["spec": ["containers": [["name": "c"]]]]]]).isEmpty)
    }

    @Test func aReplacementTakesTheAgentsPlace() throws {
        let rewrite = try #require(EgressProxyRewrite(agentProxyURL: Self.agent, replacement: "http://egress:3128"))
        let operations = rewrite.operations(for: workload())
        let values = (operations[1].value?.arrayValue ?? []).compactMap { entry in
            entry["value"]?.stringValue.map { "\(entry["name"]?.stringValue ?? "")=\($0)" }
        }
        #expect(
            values == [
                "DIREKTIV_APP=x", "HTTP_PROXY=http://egress:3128", "http_proxy=http://egress:3128", "NO_PROXY=kubernetes.default",
                "no_proxy=kubernetes.default",
            ])
    }
}
