import DispatchAgent
import DispatchCore
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeClient
import KubeModels
import KubeSim
import Synchronization
import TestSupport
import Testing

/// Functions created as each Direktiv version creates them, through KubeSim with the agent as
/// its mutating webhook over TLS: placement, pods on the right nodes, and the failure paths.
@Suite(.serialized) struct WebhookEndToEndTests {
    static let functions = Scenario.functionsNamespace

    /// A simulator with its control plane, the agent registered as webhook, and a client.
    func withAgent(
        rules: String? = nil,
        failurePolicy: String = "Fail",
        _ body: (SimHarness, AgentHarness, KubeClient, Recorder<String>) async throws -> Void
    ) async throws {
        let sim = try await SimHarness.start(controlPlane: true)
        let agent = try await AgentHarness.start(sim: sim, rules: try rules ?? exampleRulesYAML(), failurePolicy: failurePolicy)
        let warnings = Recorder<String>()
        let client = try sim.client { warnings.append($0) }
        try await withTeardown {
            try await body(sim, agent, client, warnings)
        } teardown: {
            try? await client.shutdown()
            await agent.stop()
            await sim.stop()
        }
    }

    func clusterTerms(_ object: JSONValue) -> [[String]] {
        (object[path: "spec", "template", "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]?
            .arrayValue ?? []).map { term in
                (term["matchExpressions"]?.arrayValue ?? []).filter { $0["key"] == "direktiv.io/namespace" }.flatMap {
                    ($0["values"]?.arrayValue ?? []).compactMap(\.stringValue)
                }
            }
    }

    /// Waits until the Knative Service is Ready, then returns the nodes of its pods.
    func readyPods(of name: String, client: KubeClient) async throws -> [String] {
        let stream = try await client.watch(
            KnativeService.self, .knativeServices, namespace: Self.functions,
            options: ListOptions(fieldSelector: "metadata.name=\(name)", resourceVersion: "0"), timeoutSeconds: 60)
        _ = try await next(stream) { event in
            if case .added(let service) = event { return service.isReady }
            if case .modified(let service) = event { return service.isReady }
            return false
        }
        return try await client.list(
            Pod.self, .pods, namespace: Self.functions, options: ListOptions(labelSelector: "serving.knative.dev/service=\(name)")
        ).items.compactMap(\.spec?.nodeName)
    }

    @Test func direktiv067FunctionIsPlacedAndItsPodsLandThere() async throws {
        try await withAgent { _, _, client, _ in
            let created = try await client.create(try exampleObject("direktiv/ksvc-0.6.7.json"), .knativeServices, namespace: Self.functions)
            // team-a: least-loaded over the external clusters; the hand-written team-a expression is replaced.
            #expect(clusterTerms(created) == [["external1"]])
            #expect(created[path: "metadata", "annotations", "dispatch.direktiv.io/cluster"] == "external1")
            #expect(created[path: "metadata", "annotations", "dispatch.direktiv.io/namespace"] == "team-a")
            #expect(created[path: "spec", "template", "spec", "tolerations"]?[0]?["key"] == "virtual-node.liqo.io/not-allowed")
            let nodes = try await readyPods(of: "namespace-team-a-greeter", client: client)
            #expect(nodes == ["liqo-external1"])
        }
    }

    @Test func direktiv0810UpdateKeepsItsCluster() async throws {
        try await withAgent { sim, agent, client, _ in
            let name = "team-a-greeter-flows-hello-yaml-4c1d9e0b7a"
            let created = try await client.create(try exampleObject("direktiv/ksvc-0.8.10.json"), .knativeServices, namespace: Self.functions)
            #expect(clusterTerms(created) == [["external1"]])
            #expect(try await readyPods(of: name, client: client) == ["liqo-external1"])

            // external1 fills up: a new team-a function would now go to external2...
            let heavy: JSONValue = [
                "metadata": ["name": "heavy"],
                "spec": [
                    "nodeName": "liqo-external1",
                    // Liqo's virtual node evicts (NoExecute) whatever does not tolerate its taint.
                    "tolerations": [["key": "virtual-node.liqo.io/not-allowed", "operator": "Exists", "effect": "NoExecute"]],
                    "containers": [["name": "c", "resources": ["requests": ["cpu": "7", "memory": "30Gi"]]]],
                ],
                "status": ["phase": "Running"],
            ]
            _ = try sim.sim.store.create(heavy, .pods, namespace: "default")
            _ = try await next(agent.agent.inventory.snapshots()) { ($0.cluster(named: "external1")?.schedulable.requested.milliCPU ?? 0) > 7000 }
            var other = try exampleObject("direktiv/ksvc-0.8.10.json")
            other = other.replacing(["metadata", "name"], with: "team-a-other-flows-x-yaml-0a0b0c0d0e")
            let newcomer = try await client.create(other, .knativeServices, namespace: Self.functions)
            #expect(clusterTerms(newcomer) == [["external2"]])

            // ...but an update of the placed one stays where its pods are.
            let updated = try await client.patch(
                JSONValue.self, .knativeServices, name: name, namespace: Self.functions,
                patch: .merge([
                    "spec": [
                        "template": [
                            "spec": [
                                "containers": [
                                    [
                                        "name": "direktiv-container", "image": "direktiv/greeting:v4",
                                        "resources": ["requests": ["cpu": "100m", "memory": "64M"]],
                                    ]
                                ]
                            ]
                        ]
                    ]
                ])
            )
            #expect(clusterTerms(updated) == [["external1"]])
            #expect(updated[path: "metadata", "generation"] == 2)
        }
    }

    @Test func direktiv010DeploymentIsPlaced() async throws {
        try await withAgent { _, _, client, _ in
            let created = try await client.create(try exampleObject("direktiv/deployment-0.10.json"), .deployments, namespace: Self.functions)
            #expect(clusterTerms(created) == [["external1"]])
            let id = "team-b-resize-flows-images-yaml-9f2e6a1c0d"
            let stream = try await client.watch(
                Deployment.self, .deployments, namespace: Self.functions, options: ListOptions(resourceVersion: "0"), timeoutSeconds: 60)
            _ = try await next(stream) { event in
                if case .added(let deployment) = event { return deployment.metadata.name == id && deployment.isReady }
                if case .modified(let deployment) = event { return deployment.metadata.name == id && deployment.isReady }
                return false
            }
            let pods = try await client.list(
                Pod.self, .pods, namespace: Self.functions, options: ListOptions(labelSelector: "direktiv-service=\(id)")
            ).items
            #expect(pods.compactMap(\.spec?.nodeName) == ["liqo-external1"])
        }
    }

    @Test func aLostPeerIsAvoided() async throws {
        try await withAgent { sim, agent, client, _ in
            try sim.sim.setPeer(cluster: "external1", reachable: false)
            _ = try await next(agent.agent.inventory.snapshots()) { $0.cluster(named: "external1")?.isReady == false }
            let created = try await client.create(try exampleObject("direktiv/ksvc-0.8.10.json"), .knativeServices, namespace: Self.functions)
            #expect(clusterTerms(created) == [["external2"]])
            #expect(try await readyPods(of: "team-a-greeter-flows-hello-yaml-4c1d9e0b7a", client: client) == ["liqo-external2"])
        }
    }

    /// Issue 23, item 2, through the API server: external2's functions may only run on
    /// external2 (`onNoFit: reject`). With that peer down, a label-only edit of a placed function
    /// passes and its placement stays as it was; the old agent answered 403.
    @Test func aLabelOnlyUpdatePassesWhileTheFunctionsClusterIsDown() async throws {
        try await withAgent { sim, agent, client, _ in
            let created = try await client.create(
                bigFunction("mailer", namespace: "external2", cpu: "100m"), .knativeServices, namespace: Self.functions)
            #expect(clusterTerms(created) == [["external2"]])
            try sim.sim.setPeer(cluster: "external2", reachable: false)
            _ = try await next(agent.agent.inventory.snapshots()) { $0.cluster(named: "external2")?.isReady == false }
            let updated = try await client.patch(
                JSONValue.self, .knativeServices, name: "mailer", namespace: Self.functions,
                patch: .merge(["metadata": ["labels": ["team": "billing"]]]))
            #expect(updated[path: "metadata", "labels", "team"] == "billing")
            #expect(updated[path: "spec", "template"] == created[path: "spec", "template"])
        }
    }

    func bigFunction(_ name: String, namespace direktivNamespace: String, cpu: String) -> JSONValue {
        [
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": [
                "name": .string(name), "namespace": .string(Self.functions),
                "annotations": ["dispatch.direktiv.io/namespace": .string(direktivNamespace)],
            ],
            "spec": [
                "template": [
                    "spec": [
                        "affinity": [:],
                        "containers": [
                            ["name": "direktiv-container", "image": "x", "resources": ["requests": ["cpu": .string(cpu), "memory": "1Gi"]]]
                        ],
                    ]
                ]
            ],
        ]
    }

    @Test func rejectionReachesTheClientAndNothingIsStored() async throws {
        try await withAgent { sim, _, client, _ in
            do {
                _ = try await client.create(bigFunction("too-big", namespace: "external2", cpu: "64"), .knativeServices, namespace: Self.functions)
                Issue.record("the function must be refused")
            } catch let error as KubeAPIError {
                #expect(error.code == 403)
                #expect(
                    error.message.hasPrefix(
                        "admission webhook \"dispatch.direktiv.io\" denied the request: direktiv-dispatch: rejected: no eligible cluster for Direktiv namespace \"external2\""
                    ), "\(error.message)")
                #expect(error.message.contains("external2 (does not fit: needs cpu=64 memory=1Gi on one node"))
            }
            #expect((try? sim.sim.store.get(.knativeServices, namespace: Self.functions, name: "too-big")) == nil)
        }
    }

    @Test func unplacedFunctionsAreAdmittedWithAWarning() async throws {
        try await withAgent { _, _, client, warnings in
            let created = try await client.create(
                bigFunction("roomless", namespace: "someone", cpu: "64"), .knativeServices, namespace: Self.functions)
            #expect(clusterTerms(created).isEmpty)
            #expect(created[path: "metadata", "annotations", "dispatch.direktiv.io/cluster"] == nil)
            #expect(warnings.all.contains { $0.hasPrefix("admitted unplaced: no eligible cluster for Direktiv namespace \"someone\"") })
        }
    }

    @Test func dryRunPlacesWithoutReserving() async throws {
        try await withAgent { sim, agent, client, _ in
            let answer = try await client.create(
                try exampleObject("direktiv/ksvc-0.8.10.json"), .knativeServices, namespace: Self.functions, dryRun: true)
            #expect(clusterTerms(answer) == [["external1"]])
            let placements = try await client.list(FunctionPlacement.self, .functionPlacements, namespace: Self.functions)
            #expect(placements.items.isEmpty, "a dry run records no FunctionPlacement, so it reserves nothing")
            #expect((try? sim.sim.store.get(.knativeServices, namespace: Self.functions, name: "team-a-greeter-flows-hello-yaml-4c1d9e0b7a")) == nil)
        }
    }

    @Test func webhookDownFollowsFailurePolicy() async throws {
        try await withAgent { sim, agent, client, _ in
            await agent.stop()
            do {
                _ = try await client.create(try exampleObject("direktiv/ksvc-0.8.10.json"), .knativeServices, namespace: Self.functions)
                Issue.record("failurePolicy Fail must refuse while the webhook is down")
            } catch let error as KubeAPIError {
                #expect(error.code == 500)
                #expect(error.message.contains("failed calling webhook \"dispatch.direktiv.io\""), "\(error.message)")
            }
            try agent.register(in: sim.sim, failurePolicy: "Ignore")
            let created = try await client.create(try exampleObject("direktiv/ksvc-0.8.10.json"), .knativeServices, namespace: Self.functions)
            #expect(clusterTerms(created).isEmpty, "Ignore admits the function unplaced")
        }
    }

    @Test func disabledKnativeAffinityIsWarnedAboutAndRefusedByKnative() async throws {
        try await withAgent { sim, agent, client, warnings in
            try sim.sim.store.modify(.configMaps, namespace: "knative-serving", name: "config-features") { map in
                map = map.replacing(["data", "kubernetes.podspec-affinity"], with: "disabled")
            }
            await agent.agent.knativePreflight.check()
            #expect(agent.agent.state.knativeFeatures?.affinityEnabled == false)
            do {
                _ = try await client.create(try exampleObject("direktiv/ksvc-0.8.10.json"), .knativeServices, namespace: Self.functions)
                Issue.record("Knative refuses affinity while the feature is disabled")
            } catch let error as KubeAPIError {
                #expect(error.code == 400)
                #expect(error.message.contains("must not set the field(s): spec.template.spec.affinity"))
            }
            #expect(warnings.all.contains { $0.contains("kubernetes.podspec-affinity") && $0.contains("knative-serving/config-features") })
        }
    }

    @Test(.enabled(if: Kubectl.path != nil, "kubectl is not on PATH"))
    func kubectlShowsTheRejection() async throws {
        try await withAgent { sim, _, _, _ in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubectl-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let kubeconfig = directory.appendingPathComponent("kubeconfig")
            try sim.sim.kubeconfig(server: sim.url).write(to: kubeconfig, atomically: true, encoding: .utf8)
            let manifest = directory.appendingPathComponent("big.json")
            try bigFunction("too-big", namespace: "external2", cpu: "64").encoded().write(to: manifest)
            let result = try await Kubectl.run([
                "--kubeconfig", kubeconfig.path, "--cache-dir", directory.appendingPathComponent("cache").path, "apply", "-f", manifest.path,
            ])
            #expect(result.status == 1)
            #expect(result.stderr.contains("Error from server (Forbidden): error when creating"), "\(result.stderr)")
            #expect(result.stderr.contains("admission webhook \"dispatch.direktiv.io\" denied the request: direktiv-dispatch: rejected"))
        }
    }
}
