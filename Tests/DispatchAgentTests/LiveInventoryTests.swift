import DispatchAgent
import DispatchCore
import DispatchMetrics
import DispatchProxy
import KubeClient
import KubeModels
import KubeSim
import Logging
import TestSupport
import Testing

@Suite struct LiveInventoryTests {
    let settings = LiveInventory.Settings(clusterLabel: "direktiv.io/namespace", toleratedTaintKeys: ["virtual-node.liqo.io/not-allowed"])

    func makeInventory(_ client: KubeClient) -> LiveInventory {
        LiveInventory(
            client: client, settings: settings, logger: Logger(label: "live-inventory-test"), minimumRebuildInterval: .milliseconds(10),
            backoff: Backoff(base: .milliseconds(20), cap: .milliseconds(100)))
    }

    func run<T>(_ inventory: LiveInventory, _ body: (AsyncStream<ClusterInventory>) async throws -> T) async throws -> T {
        let snapshots = inventory.snapshots()
        let task = Task { try await inventory.run() }
        defer { task.cancel() }
        return try await body(snapshots)
    }

    @Test func followsNodeAndPodChangesMadeThroughTheAPI() async throws {
        try await withSim { harness, client in
            let inventory = makeInventory(client)
            try await run(inventory) { snapshots in
                let first = try await next(snapshots) { $0.clusters.count == 3 && $0.cluster(named: "external2")?.podCount == 1 }
                #expect(inventory.readiness.isSynced)
                let before = try #require(first.cluster(named: "external2")?.schedulable.requested)

                // A function pod lands on external2.
                let pod: JSONValue = [
                    "metadata": ["name": "fn-pod", "labels": ["serving.knative.dev/service": "team-a-fn"]],
                    "spec": [
                        "nodeName": "liqo-external2",
                        "containers": [["name": "c", "image": "direktiv/fn", "resources": ["requests": ["cpu": "500m", "memory": "1Gi"]]]],
                    ],
                ]
                // The API server starts every pod Pending; its kubelet reports Running.
                _ = try await client.create(pod, .pods, namespace: Scenario.functionsNamespace)
                _ = try await client.patch(
                    JSONValue.self, .pods, name: "fn-pod", namespace: Scenario.functionsNamespace, patch: .merge(["status": ["phase": "Running"]]),
                    subresource: "status")
                let withPod = try await next(snapshots) { $0.cluster(named: "external2")?.podCount == 2 }
                #expect(withPod.cluster(named: "external2")?.schedulable.requested == before + Resources(milliCPU: 500, memoryBytes: 1 << 30))
                #expect(withPod.functionClusters[FunctionKey(namespace: Scenario.functionsNamespace, name: "team-a-fn")] == ["external2"])

                // The peer goes away: Liqo's virtual node turns NotReady.
                _ = try await client.patch(
                    JSONValue.self, .nodes, name: "liqo-external2",
                    patch: .merge(["status": ["conditions": [["type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"]]]]),
                    subresource: "status")
                let notReady = try await next(snapshots) { $0.cluster(named: "external2")?.isReady == false }
                #expect(notReady.cluster(named: "external2")?.problems == ["node liqo-external2: NotReady (NodeStatusUnknown)"])

                // The pod finishes: it no longer holds resources.
                _ = try await client.patch(
                    JSONValue.self, .pods, name: "fn-pod", namespace: Scenario.functionsNamespace, patch: .merge(["status": ["phase": "Succeeded"]]),
                    subresource: "status")
                let finished = try await next(snapshots) { $0.cluster(named: "external2")?.podCount == 1 }
                #expect(
                    finished.cluster(named: "external2")?.schedulable.requested == before
                        || finished.cluster(named: "external2")?.total.requested == before)
                #expect(finished.functionClusters[FunctionKey(namespace: Scenario.functionsNamespace, name: "team-a-fn")] == nil)

                // A new cluster joins.
                _ = try await client.create(Scenario.node("liqo-gpu", cluster: "gpu", cpu: "16", memory: "64Gi", remoteID: "gpu-peer"), .nodes)
                _ = try await next(snapshots) { $0.cluster(named: "gpu")?.isReady == true }
                _ = harness
            }
        }
    }

    @Test func staysUsableWhileStaleAndCatchesUp() async throws {
        var harness = try await SimHarness.start()
        let client = try harness.client()
        let inventory = makeInventory(client)
        let readiness = inventory.readinessChanges()
        try await run(inventory) { snapshots in
            _ = try await next(snapshots) { $0.clusters.count == 3 }
            _ = try await next(readiness) { $0.isReady }
            await harness.stop()
            // The last snapshot stays while the API server is away.
            _ = try await next(readiness) { $0.isStale }
            #expect(inventory.snapshot.clusters.count == 3)
            #expect(!inventory.readiness.isReady)

            _ = try harness.sim.store.create(
                Scenario.node("liqo-late", cluster: "late", cpu: "2", memory: "4Gi", remoteID: "late-peer"), .nodes, namespace: nil)
            harness = try await harness.restarted()
            _ = try await next(readiness) { $0.isReady }
            _ = try await next(snapshots) { $0.cluster(named: "late") != nil }
        }
        try await client.shutdown()
        await harness.stop()
    }

    @Test func reconfiguringTheClusterLabelRebuilds() async throws {
        try await withSim { _, client in
            let inventory = makeInventory(client)
            try await run(inventory) { snapshots in
                _ = try await next(snapshots) { $0.clusters.count == 3 }
                inventory.reconfigure(
                    LiveInventory.Settings(clusterLabel: "kubernetes.io/hostname", toleratedTaintKeys: ["virtual-node.liqo.io/not-allowed"]))
                let byHost = try await next(snapshots) { $0.clusterLabel == "kubernetes.io/hostname" }
                #expect(byHost.clusters.map(\.name) == ["liqo-external1", "liqo-external2", "main-1", "main-2"])
            }
        }
    }
}
