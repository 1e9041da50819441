import DispatchDoctor
import Foundation
import KubeClient
import KubeModels
import KubeSim
import TestSupport
import Testing

/// The seed's Liqo objects are what Liqo 1.2's own CRDs accept: each one, created through the API
/// in a cluster without them (then its status written through the status subresource), is
/// stored, as kube-apiserver validating against those schemas would store it.
@Suite struct SeedSetupTests {
    @Test func theSeedsLiqoObjectsValidateAgainstLiqosCRDs() async throws {
        let seeded = try await SimHarness.start()
        let empty = try await SimHarness.start(scenario: .empty)
        let source = try seeded.client()
        let target = try empty.client()
        try await withTeardown {
            let kinds: [ResourceDescriptor] = [
                .namespaceOffloadings, .foreignClusters,
                ResourceDescriptor(group: "networking.liqo.io", version: "v1beta1", resource: "connections", kind: "Connection", isNamespaced: true),
            ]
            var created = 0
            for kind in kinds {
                for object in try await source.list(JSONValue.self, kind).items {
                    let namespace = object[path: "metadata", "namespace"]?.stringValue
                    if let namespace, (try? await target.get(JSONValue.self, .namespaces, name: namespace)) == nil {
                        _ = try await target.create(
                            ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]] as JSONValue, .namespaces)
                    }
                    let name = object[path: "metadata", "name"]?.stringValue ?? ""
                    let fresh: JSONValue = [
                        "apiVersion": object["apiVersion"] ?? "", "kind": object["kind"] ?? "",
                        "metadata": ["name": .string(name), "labels": object[path: "metadata", "labels"] ?? [:]], "spec": object["spec"] ?? [:],
                    ]
                    _ = try await target.create(fresh, kind, namespace: namespace)
                    let status = try await target.patch(
                        JSONValue.self, kind, name: name, namespace: namespace, patch: .merge(["status": object["status"] ?? [:]]),
                        subresource: "status")
                    #expect(status["status"] == object["status"], "\(kind) \(name): the status is stored as the seed has it")
                    created += 1
                }
            }
            #expect(created == 6, "two NamespaceOffloadings, a ForeignCluster and a Connection per peer")
            let connection = try await source.list(JSONValue.self, kinds[2]).items.first {
                $0[path: "metadata", "name"]?.stringValue == "gw-external2"
            }
            #expect(connection?[path: "status", "latency", "value"]?.stringValue == "40ms")
        } teardown: {
            try? await source.shutdown()
            try? await target.shutdown()
            await seeded.stop()
            await empty.stop()
        }
    }

    /// The engine's pod is the seed's one pod, adopted through its ReplicaSet: the Deployment
    /// controller starts no second engine.
    @Test func theEngineDeploymentAdoptsTheSeedsPod() async throws {
        let sim = try await SimHarness.start(controlPlane: true)
        let client = try sim.client()
        try await withTeardown {
            let available = try await eventually {
                let deployment = try await client.get(JSONValue.self, .deployments, name: "direktiv-flow", namespace: "direktiv")
                return deployment[path: "status", "availableReplicas"]?.integerValue == 1
            }
            #expect(available)
            let pods = try await client.list(JSONValue.self, .pods, namespace: "direktiv").items.compactMap {
                $0[path: "metadata", "name"]?.stringValue
            }
            #expect(pods.filter { $0.hasPrefix("direktiv-flow") } == ["direktiv-flow-6d9c7b5f4-x2k8p"])
        } teardown: {
            try? await client.shutdown()
            await sim.stop()
        }
    }
}
