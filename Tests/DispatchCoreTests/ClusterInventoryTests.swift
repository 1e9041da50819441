import DispatchCore
import KubeModels
import Testing

@Suite struct ClusterInventoryTests {
    @Test func seedHasThreeClustersWithRealCapacity() throws {
        let inventory = try seedInventory()
        #expect(inventory.clusters.map(\.name) == ["external1", "external2", "main"])

        let main = try #require(inventory.cluster(named: "main"))
        #expect(main.kind == .local)
        #expect(main.nodes.map(\.name) == ["main-1", "main-2"])
        // 8 cores over two nodes less flow (500m), api (250m), coredns (100m); the Succeeded job and the unbound pod do not count.
        #expect(
            main.schedulable.free == .cpu("7150m", memory: "32Gi") - .cpu("0", memory: "1Gi") - .cpu("0", memory: "512Mi") - .cpu("0", memory: "70Mi")
        )
        #expect(main.largestNodeFree.milliCPU == 4000 - 250)
        #expect(main.isReady)

        let external1 = try #require(inventory.cluster(named: "external1"))
        #expect(external1.kind == .virtual)
        #expect(external1.remoteClusterIDs == ["3f2a6c1e-8d4b-4c2e-9a51-7b0e2d9c4f10"])
        #expect(external1.schedulable.requested == .cpu("125m", memory: "64M"))
        #expect(external1.isReady)

        let key = FunctionKey(namespace: "direktiv-services-direktiv", name: "external1-greeter-3b1f0c9a2d")
        #expect(inventory.functionClusters[key] == ["external1"])
    }

    @Test func virtualNodesNeedTheLiqoToleration() throws {
        let inventory = ClusterInventory(nodes: try seedNodes(), pods: [], clusterLabel: "direktiv.io/namespace", toleratedTaintKeys: [])
        let external1 = try #require(inventory.cluster(named: "external1"))
        #expect(!external1.isReady)
        #expect(external1.problems == ["node liqo-external1: untolerated taint virtual-node.liqo.io/not-allowed=true:NoExecute"])
    }

    @Test func unhealthyNodesAreNotSchedulable() throws {
        let nodes = [
            makeNode("ready", cluster: "a"),
            makeNode("notready", cluster: "b", ready: "False", virtual: true),
            makeNode("unknown", cluster: "c", ready: "Unknown"),
            makeNode("cordoned", cluster: "d", unschedulable: true),
            makeNode("empty", cluster: "e", cpu: "0", memory: "0"),
            makeNode("tainted", cluster: "f", taints: [Node.Taint(key: "dedicated", value: "gpu", effect: "NoSchedule")]),
            makeNode("soft-tainted", cluster: "g", taints: [Node.Taint(key: "dedicated", effect: "PreferNoSchedule")]),
            makeNode("unlabelled", cluster: nil),
        ]
        var network = makeNode("network", cluster: "h")
        network.status?.conditions?.append(Condition(type: "NetworkUnavailable", status: "True"))
        let inventory = ClusterInventory(nodes: nodes + [network], pods: [], clusterLabel: "direktiv.io/namespace")
        func problems(_ cluster: String) -> [String] { inventory.cluster(named: cluster)?.problems ?? ["missing"] }
        #expect(problems("a") == [])
        #expect(problems("b") == ["node notready: NotReady (KubeletNotReady)"])
        #expect(problems("c") == ["node unknown: NotReady (KubeletNotReady)"])
        #expect(problems("d") == ["node cordoned: cordoned"])
        #expect(problems("e") == ["node empty: zero allocatable"])
        #expect(problems("f") == ["node tainted: untolerated taint dedicated=gpu:NoSchedule"])
        #expect(problems("g") == [])
        #expect(problems("h") == ["node network: NetworkUnavailable"])
        #expect(inventory.unassignedNodes == ["unlabelled"])
        #expect(inventory.clusters.filter(\.isReady).map(\.name) == ["a", "g"])
    }

    @Test func aClusterStaysReadyWhileOneNodeIs() throws {
        let inventory = ClusterInventory(
            nodes: [makeNode("m1", cluster: "main", unschedulable: true), makeNode("m2", cluster: "main")],
            pods: [],
            clusterLabel: "direktiv.io/namespace"
        )
        let main = try #require(inventory.cluster(named: "main"))
        #expect(main.isReady)
        #expect(main.schedulable.allocatable.milliCPU == 4000)
        #expect(main.total.allocatable.milliCPU == 8000)
    }

    @Test func aPodFitsOnlyWhenOneNodeHoldsIt() throws {
        // 4 cores free in total, but no single node has more than 2.
        let inventory = ClusterInventory(
            nodes: [makeNode("a", cluster: "c", cpu: "4", memory: "1Gi"), makeNode("b", cluster: "c", cpu: "1", memory: "8Gi")],
            pods: [makePod("p", node: "a", cpu: "2", memory: "0")],
            clusterLabel: "direktiv.io/namespace"
        )
        let cluster = try #require(inventory.cluster(named: "c"))
        #expect(cluster.schedulable.free.milliCPU == 3000)
        #expect(cluster.fits(.cpu("2", memory: "512Mi")))
        #expect(!cluster.fits(.cpu("3", memory: "512Mi")))
        #expect(!cluster.fits(.cpu("2", memory: "2Gi")))
        #expect(cluster.fits(.cpu("1", memory: "4Gi")))
        #expect(cluster.largestNodeFree == .cpu("2", memory: "8Gi"))
    }

    @Test func onlyBoundRunningPodsCount() throws {
        let inventory = ClusterInventory(
            nodes: [makeNode("n", cluster: "c")],
            pods: [
                makePod("running", node: "n", cpu: "1", memory: "1Gi"),
                makePod("pending-bound", node: "n", cpu: "1", memory: "1Gi", phase: "Pending"),
                makePod("done", node: "n", cpu: "1", memory: "1Gi", phase: "Succeeded"),
                makePod("failed", node: "n", cpu: "1", memory: "1Gi", phase: "Failed"),
                makePod("unbound", node: nil, cpu: "1", memory: "1Gi", phase: "Pending"),
                makePod("elsewhere", node: "gone", cpu: "1", memory: "1Gi"),
            ],
            clusterLabel: "direktiv.io/namespace"
        )
        let cluster = try #require(inventory.cluster(named: "c"))
        #expect(cluster.schedulable.requested == .cpu("2", memory: "2Gi"))
        #expect(cluster.podCount == 2)
    }

    @Test func overcommittedNodesHaveNoFreeCapacity() throws {
        let inventory = ClusterInventory(
            nodes: [makeNode("n", cluster: "c", cpu: "1", memory: "1Gi")],
            pods: [makePod("big", node: "n", cpu: "2", memory: "2Gi")],
            clusterLabel: "direktiv.io/namespace"
        )
        #expect(inventory.cluster(named: "c")?.schedulable.free == .zero)
    }
}
