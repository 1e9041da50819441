import DispatchCore
import KubeModels
import Testing

@Suite struct PodAggregatesTests {
    func pod(_ name: String, node: String?, cpu: Int64, function: String? = nil, terminated: Bool = false, readable: Bool = true) -> PodUsage {
        PodUsage(
            namespace: "fns", name: name, nodeName: node,
            requests: readable ? Resources(milliCPU: cpu, memoryBytes: cpu * 1_000_000) : nil,
            isTerminated: terminated, function: function
        )
    }

    /// Adding, changing and removing pods one by one ends where aggregating the final set starts.
    @Test func incrementalEqualsBatch() {
        var generator = SystemRandomNumberGenerator()
        var live: [String: PodUsage] = [:]
        var incremental = PodAggregates()
        let nodes = ["n1", "n2", "n3", nil]
        for step in 0..<2000 {
            let name = "p\(Int.random(in: 0..<60, using: &generator))"
            let next = pod(
                name,
                node: nodes.randomElement(using: &generator)!,
                cpu: Int64.random(in: 1...500, using: &generator),
                function: Bool.random(using: &generator) ? "fn-\(step % 7)" : nil,
                terminated: Int.random(in: 0..<10, using: &generator) == 0,
                readable: Int.random(in: 0..<20, using: &generator) != 0
            )
            switch (live[name], Int.random(in: 0..<3, using: &generator)) {
            case (nil, _):
                incremental.add(next)
                live[name] = next
            case (let old?, 0):
                incremental.remove(old)
                live[name] = nil
            case (let old?, _):
                incremental.update(from: old, to: next)
                live[name] = next
            }
        }
        #expect(incremental == PodAggregates(live.values))
    }

    @Test func inventoryFromAggregatesMatchesInventoryFromPods() throws {
        let nodes = try seedNodes()
        let pods = try seedPods()
        let direct = ClusterInventory(
            nodes: nodes, pods: pods, clusterLabel: "direktiv.io/namespace", toleratedTaintKeys: ["virtual-node.liqo.io/not-allowed"])
        let aggregated = ClusterInventory(
            nodes: nodes, aggregates: PodAggregates(pods.map(PodUsage.init)), clusterLabel: "direktiv.io/namespace",
            toleratedTaintKeys: ["virtual-node.liqo.io/not-allowed"])
        #expect(direct.clusters.map(\.schedulable) == aggregated.clusters.map(\.schedulable))
        #expect(direct.functionClusters == aggregated.functionClusters)
    }

    @Test func finishedUnboundAndUnreadablePodsHoldNothing() {
        var aggregates = PodAggregates()
        aggregates.add(pod("done", node: "n1", cpu: 100, terminated: true))
        aggregates.add(pod("pending", node: nil, cpu: 100))
        aggregates.add(pod("broken", node: "n1", cpu: 100, readable: false))
        #expect(aggregates.requestedByNode.isEmpty)
        #expect(aggregates.unreadablePods == 1)
        aggregates.remove(pod("broken", node: "n1", cpu: 100, readable: false))
        #expect(aggregates == PodAggregates())
    }
}
