import DispatchCertificates
import DispatchCore
import DispatchDoctor
import Foundation
import KubeClient
import KubeModels
import KubeSim
import TestSupport
import Testing

/// `direktiv-dispatch doctor` against KubeSim: the seed setup passes, and each check fails (or
/// warns) when its link of the chain is broken on purpose through the API, as an operator's
/// mistake would break it; no other check fails with it.
@Suite(.serialized) struct DoctorTests {
    @Test func theSeedSetupPassesEveryCheck() async throws {
        let bench = try await DoctorBench.start()
        defer { Task { await bench.stop() } }
        let report = try await bench.examine()
        #expect(!report.hasFailures, "\(report.problems)")
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(Set(report.findings.map(\.check)) == Set(Doctor.checks), "every check reports")
        #expect(report.findings("webhook").first?.detail.contains("caBundle signed the serving certificate") == true)
        #expect(report.findings("foreign-clusters").count == 2)
    }

    /// One operator mistake, made through the API.
    struct Breakage: Sendable, CustomStringConvertible {
        var description: String
        var check: String
        var status: DoctorStatus
        var detail: String
        var rules: String? = nil
        var breakIt: @Sendable (KubeClient, KubeSim) async throws -> Void = { _, _ in }
    }

    static let functions = Scenario.functionsNamespace

    static let breakages: [Breakage] = [
        Breakage(
            description: "the rules name a cluster no node is labelled for", check: "cluster-nodes", status: .fail,
            detail: "cluster external3 (namespaces[0] (team-*)) has no node labelled direktiv.io/namespace=external3",
            rules: "namespaces:\n  - match: \"team-*\"\n    clusters: [external3, external1]\n  - match: \"*\"\n    clusters: [main]\n"),
        Breakage(
            description: "a peer installed without --cluster-labels", check: "virtual-node-labels", status: .fail,
            detail: "virtual node liqo-external3 (remote cluster id 77) has no direktiv.io/namespace label"
        ) { client, _ in
            var node = Scenario.node("liqo-external3", cluster: "x", cpu: "2", memory: "4Gi", remoteID: "77")
            node = node.setting(path: ["metadata", "labels", "direktiv.io/namespace"], nil)
            _ = try await client.create(node, .nodes)
        },
        Breakage(
            description: "a local node nobody labelled", check: "local-node-labels", status: .warn,
            detail: "1 of 2 local node(s) lack direktiv.io/namespace: main-2"
        ) { client, _ in
            _ = try await client.patch(
                JSONValue.self, .nodes, name: "main-2", patch: .merge(["metadata": ["labels": ["direktiv.io/namespace": .null]]]))
        },
        Breakage(
            description: "the functions namespace not offloaded", check: "offloading-functions", status: .fail,
            detail: "functions namespace \(functions) has no NamespaceOffloading \"offloading\""
        ) { client, _ in
            try await client.delete(.namespaceOffloadings, name: "offloading", namespace: functions)
        },
        Breakage(
            description: "a cluster selector that leaves out a peer", check: "offloading-functions", status: .fail,
            detail: "clusterSelector leaves out external2's virtual node"
        ) { client, _ in
            let selector: JSONValue = [
                "nodeSelectorTerms": [["matchExpressions": [["key": "direktiv.io/namespace", "operator": "In", "values": ["external1"]]]]]
            ]
            _ = try await client.patch(
                JSONValue.self, .namespaceOffloadings, name: "offloading", namespace: functions,
                patch: .merge(["spec": ["clusterSelector": selector]]))
        },
        Breakage(
            description: "functions kept local by the offloading strategy", check: "offloading-functions", status: .fail,
            detail: "podOffloadingStrategy Local keeps pods off the peers external1, external2"
        ) { client, _ in
            _ = try await client.patch(
                JSONValue.self, .namespaceOffloadings, name: "offloading", namespace: functions,
                patch: .merge(["spec": ["podOffloadingStrategy": "Local"]]))
        },
        Breakage(
            description: "Liqo selected no cluster", check: "offloading-functions", status: .fail, detail: "in phase NoClusterSelected"
        ) { client, _ in
            _ = try await client.patch(
                JSONValue.self, .namespaceOffloadings, name: "offloading", namespace: functions,
                patch: .merge(["status": ["offloadingPhase": "NoClusterSelected"]]), subresource: "status")
        },
        Breakage(
            description: "Direktiv's namespace not offloaded", check: "offloading-direktiv", status: .fail,
            detail: "Direktiv's namespace direktiv has no NamespaceOffloading \"offloading\""
        ) { client, _ in
            try await client.delete(.namespaceOffloadings, name: "offloading", namespace: "direktiv")
        },
        Breakage(
            description: "Direktiv's namespace mapped to another name", check: "offloading-direktiv", status: .fail,
            detail: "maps the namespace with DefaultName, not EnforceSameName"
        ) { client, _ in
            try await client.delete(.namespaceOffloadings, name: "offloading", namespace: "direktiv")
            _ = try await client.create(
                Doctor.namespaceOffloading(namespace: "direktiv", forDirektiv: true).replacing(
                    ["spec", "namespaceMappingStrategy"], with: "DefaultName"),
                .namespaceOffloadings, namespace: "direktiv")
            _ = try await client.patch(
                JSONValue.self, .namespaceOffloadings, name: "offloading", namespace: "direktiv",
                patch: .merge(["status": ["offloadingPhase": "Ready"]]), subresource: "status")
        },
        Breakage(
            description: "Knative's affinity flag off", check: "knative-features", status: .fail,
            detail: "knative-serving/config-features does not enable kubernetes.podspec-affinity"
        ) { client, _ in
            _ = try await client.patch(
                JSONValue.self, .configMaps, name: "config-features", namespace: "knative-serving",
                patch: .merge(["data": ["kubernetes.podspec-affinity": "disabled"]]))
        },
        Breakage(
            description: "the engine without HTTP_PROXY", check: "engine-proxy", status: .fail,
            detail: "deployment/direktiv-flow in direktiv has no HTTP_PROXY"
        ) { client, _ in
            _ = try await client.patch(
                JSONValue.self, .deployments, name: "direktiv-flow", namespace: "direktiv",
                patch: .json([
                    JSONPatchOperation(op: .remove, path: "/spec/template/spec/containers/0/env/1"),
                    JSONPatchOperation(op: .remove, path: "/spec/template/spec/containers/0/env/0"),
                ]))
        },
        Breakage(
            description: "the engine's proxy is someone else's", check: "engine-proxy", status: .fail,
            detail: "sends calls to http://squid.corp:3128, not to the agent's proxy"
        ) { client, _ in
            _ = try await client.patch(
                JSONValue.self, .deployments, name: "direktiv-flow", namespace: "direktiv",
                patch: .json([JSONPatchOperation(op: .replace, path: "/spec/template/spec/containers/0/env/0/value", value: "http://squid.corp:3128")]
                ))
        },
        Breakage(
            description: "NO_PROXY matching every Service", check: "engine-proxy", status: .fail,
            detail: "matches function hosts (fn.direktiv-services-direktiv.svc, fn.direktiv-services-direktiv.svc.cluster.local)"
        ) { client, _ in
            _ = try await client.patch(
                JSONValue.self, .deployments, name: "direktiv-flow", namespace: "direktiv",
                patch: .json([
                    JSONPatchOperation(
                        op: .replace, path: "/spec/template/spec/containers/0/env/2/value", value: "kubernetes.default.svc,.svc,cluster.local")
                ]))
        },
        Breakage(
            description: "a function created before the agent", check: "function-egress", status: .warn,
            detail: "1 function workload(s) created before the agent carry its proxy: \(functions)/team-b-old-fn"
        ) { client, _ in
            let deployment = try exampleObject("direktiv/deployment-0.10.json")
                .setting(path: ["metadata", "name"], "team-b-old-fn")
                .setting(
                    path: ["spec", "template", "spec", "containers", "0"], nil)
            var containers = try exampleObject("direktiv/deployment-0.10.json")[path: "spec", "template", "spec", "containers"]?.arrayValue ?? []
            containers[0] = containers[0].setting("env", [["name": "HTTP_PROXY", "value": .string(Scenario.engineProxyURL + "/")]])
            _ = try await client.create(
                deployment.setting(path: ["spec", "template", "spec", "containers"], .array(containers)), .deployments, namespace: functions)
        },
        Breakage(
            description: "the webhook not registered", check: "webhook", status: .fail,
            detail: "MutatingWebhookConfiguration direktiv-dispatch does not exist"
        ) { client, _ in
            try await client.delete(.mutatingWebhookConfigurations, name: "direktiv-dispatch")
        },
        Breakage(
            description: "the webhook's selector missing the functions namespace", check: "webhook", status: .fail,
            detail: "no webhook covers CREATE of services.serving.knative.dev in \(functions)"
        ) { _, sim in
            let other = try CertificateAuthority(commonName: "x")
            try WebhookRegistration.register(
                WebhookRegistration.configuration(
                    url: "https://127.0.0.1:1/mutate", caPEM: other.certificatePEM, failurePolicy: "Ignore", namespaces: ["elsewhere"]),
                in: sim.store)
        },
        Breakage(
            description: "a caBundle from another CA", check: "webhook", status: .fail,
            detail: "the caBundle of direktiv-dispatch did not sign the certificate the webhook serves"
        ) { _, sim in
            let other = try CertificateAuthority(commonName: "direktiv-dispatch-webhook-ca")
            try WebhookRegistration.register(
                WebhookRegistration.configuration(
                    url: "https://127.0.0.1:1/mutate", caPEM: other.certificatePEM, failurePolicy: "Ignore", namespaces: [Scenario.functionsNamespace]
                ),
                in: sim.store)
        },
        Breakage(
            description: "a peer whose network is down", check: "foreign-clusters", status: .fail, detail: "NetworkConnectionStatus Error"
        ) { client, _ in
            let id = Scenario.remoteClusterIDs["external2"] ?? ""
            _ = try await client.patch(
                JSONValue.self, .foreignClusters, name: id,
                patch: .merge([
                    "status": ["modules": ["networking": ["enabled": true, "conditions": [["type": "NetworkConnectionStatus", "status": "Error"]]]]]
                ]), subresource: "status")
        },
        Breakage(
            description: "a virtual node whose peering is gone", check: "foreign-clusters", status: .fail,
            detail: "no ForeignCluster for external1 (remote cluster id 3f2a6c1e-8d4b-4c2e-9a51-7b0e2d9c4f10)"
        ) { client, _ in
            try await client.delete(.foreignClusters, name: Scenario.remoteClusterIDs["external1"] ?? "")
        },
        Breakage(
            description: "a Liqo Quota with Hard limits", check: "liqo-quota", status: .fail, detail: "Quota liqo/team enforces Hard limits"
        ) { client, sim in
            try sim.installDefinition(DoctorTests.quotaDefinition)
            _ = try await client.create(
                [
                    "apiVersion": "offloading.liqo.io/v1beta1", "kind": "Quota", "metadata": ["name": "team", "namespace": "liqo"],
                    "spec": ["user": "team", "limitsEnforcement": "Hard", "resources": ["cpu": "4"]],
                ] as JSONValue, .liqoQuotas, namespace: "liqo")
        },
    ]

    @Test(arguments: breakages)
    func eachBrokenLinkIsReportedWithItsFix(_ breakage: Breakage) async throws {
        let bench = try await DoctorBench.start()
        defer { Task { await bench.stop() } }
        try await breakage.breakIt(bench.client, bench.sim.sim)
        let rules = try breakage.rules.map { try RulesParser.parse($0) }
        let report = try await bench.examine(try bench.settings(rules))
        let finding = report.findings(breakage.check).first { $0.status != .pass }
        #expect(finding?.status == breakage.status, "\(report.problems)")
        #expect(finding?.detail.contains(breakage.detail) == true, "\(finding?.detail ?? "no finding")")
        #expect(finding?.why.isEmpty == false && finding?.fix.isEmpty == false, "a problem says why it matters and how to fix it")
        let others = report.findings.filter { $0.check != breakage.check && $0.status == .fail }
        #expect(others.isEmpty, "only \(breakage.check) fails: \(others.map(\.detail))")
        #expect(report.hasFailures == (breakage.status == .fail))
    }

    @Test func fixCreatesTheMissingOffloadingsAndLabelsLocalNodes() async throws {
        let bench = try await DoctorBench.start()
        defer { Task { await bench.stop() } }
        try await bench.client.delete(.namespaceOffloadings, name: "offloading", namespace: Self.functions)
        try await bench.client.delete(.namespaceOffloadings, name: "offloading", namespace: "direktiv")
        _ = try await bench.client.patch(
            JSONValue.self, .nodes, name: "main-2", patch: .merge(["metadata": ["labels": ["direktiv.io/namespace": .null]]]))
        let settings = try bench.settings()
        let plan = DoctorFix.plan(try await bench.facts(settings), settings: settings)
        #expect(
            plan.map(\.description) == [
                "created NamespaceOffloading \(Self.functions)/offloading (DefaultName, LocalAndRemote)",
                "created NamespaceOffloading direktiv/offloading (EnforceSameName, Local)", "labelled node main-2 direktiv.io/namespace=main",
            ])
        for fix in plan { try await fix.apply(client: bench.client) }
        #expect(DoctorFix.plan(try await bench.facts(settings), settings: settings).isEmpty, "a second --fix changes nothing")

        let functions = try await bench.client.get(JSONValue.self, .namespaceOffloadings, name: "offloading", namespace: Self.functions)
        #expect(functions["spec"] == Doctor.namespaceOffloading(namespace: Self.functions, forDirektiv: false)["spec"])
        let node = try await bench.client.get(JSONValue.self, .nodes, name: "main-2")
        #expect(node[path: "metadata", "labels", "direktiv.io/namespace"]?.stringValue == "main")
        // Until Liqo reports the new objects Ready the checks say so, and say nothing else is missing.
        let report = try await bench.examine(settings)
        #expect(report.findings("local-node-labels").allSatisfy { $0.status == .pass })
        #expect(report.findings("offloading-functions").first?.detail.contains("has no NamespaceOffloading") == false)
    }

    /// Liqo's Quota (offloading.liqo.io/v1beta1), written from Liqo's `quota_types.go`: the
    /// bundled CRDs do not include it.
    static let quotaDefinition: JSONValue = [
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": "quotas.offloading.liqo.io"],
        "spec": [
            "group": "offloading.liqo.io", "scope": "Namespaced",
            "names": ["plural": "quotas", "singular": "quota", "kind": "Quota", "listKind": "QuotaList", "shortNames": ["qt"]],
            "versions": [
                [
                    "name": "v1beta1", "served": true, "storage": true,
                    "schema": [
                        "openAPIV3Schema": [
                            "type": "object", "required": ["spec"],
                            "properties": [
                                "apiVersion": ["type": "string"], "kind": ["type": "string"], "metadata": ["type": "object"],
                                "spec": [
                                    "type": "object", "required": ["user", "resources"],
                                    "properties": [
                                        "user": ["type": "string", "minLength": 1],
                                        "limitsEnforcement": ["type": "string", "enum": ["Hard", "Soft", "None"]],
                                        "resources": ["type": "object", "additionalProperties": ["type": "string"]],
                                        "cordoned": ["type": "boolean"],
                                    ],
                                ],
                            ],
                        ]
                    ],
                ]
            ],
        ],
    ]
}
