import KubeModels
import Testing

@testable import DispatchCore

/// The filter and scorer stages of a placement, each with plain values.
@Suite struct PlacementFiltersTests {
    let inventory = ClusterInventory(
        nodes: [
            makeNode("a-1", cluster: "a", cpu: "4", memory: "8Gi"),
            makeNode("a-2", cluster: "a", cpu: "4", memory: "8Gi"),
            makeNode("b-1", cluster: "b", cpu: "2", memory: "4Gi", ready: "False"),
        ],
        pods: [], clusterLabel: "direktiv.io/namespace", toleratedTaintKeys: []
    )

    func context(cpu: Int64 = 1000, memory: Int64 = 1 << 30, replicas: Int = 1, excluded: Set<String> = []) -> PlacementContext {
        let request = PlacementRequest(direktivNamespace: "team-a", requestPerPod: Resources(milliCPU: cpu, memoryBytes: memory), replicas: replicas)
        return PlacementContext(request: request, totalRequest: request.requestPerPod * Int64(replicas), reservedPacking: [:], excluded: excluded)
    }

    func cluster(_ name: String) throws -> ClusterState { try #require(inventory.cluster(named: name)) }

    @Test func eachFilterSaysWhyWithItsBlocker() throws {
        #expect(ReadyFilter().admits(try cluster("a"), in: context()))
        #expect(!ReadyFilter().admits(try cluster("b"), in: context()))
        #expect(ReadyFilter().blocker == .notReady)

        #expect(!ExclusionFilter().admits(try cluster("a"), in: context(excluded: ["a"])))
        #expect(ExclusionFilter().admits(try cluster("a"), in: context(excluded: ["b"])))
        #expect(ExclusionFilter().blocker == .excluded)
    }

    /// A pod never spans nodes: 8 free cores in two nodes of 4 do not take a 5-core pod, and
    /// replicas are packed node by node.
    @Test func fitIsDecidedPerNode() throws {
        let a = try cluster("a")
        #expect(FitFilter().admits(a, in: context(cpu: 4000)))
        #expect(!FitFilter().admits(a, in: context(cpu: 5000)))
        #expect(FitFilter().admits(a, in: context(cpu: 2000, replicas: 4)))
        #expect(!FitFilter().admits(a, in: context(cpu: 3000, replicas: 3)))
        #expect(FitFilter().blocker == .doesNotFit)
    }

    /// The scarcer resource decides the share a cluster keeps free.
    @Test func theFreeShareScoreIsTheScarcerResource() throws {
        let a = try cluster("a")
        let half = FreeShareScorer().score(a, freeAfter: Resources(milliCPU: 4000, memoryBytes: 12 << 30), in: context())
        #expect(half == 0.5)
        let memoryBound = FreeShareScorer().score(a, freeAfter: Resources(milliCPU: 8000, memoryBytes: 4 << 30), in: context())
        #expect(memoryBound == 0.25)
        #expect(FreeShareScorer().score(a, freeAfter: Resources(milliCPU: -1000, memoryBytes: 0), in: context()) < 0)
    }
}
