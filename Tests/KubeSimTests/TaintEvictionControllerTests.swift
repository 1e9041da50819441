import Foundation
import KubeModels
import Testing

@testable import KubeSim

/// Taint-based eviction as Kubernetes' taint eviction controller does it, and what it means for
/// a function pinned to a Liqo peer that is lost.
struct TaintEvictionControllerTests {
    let base = ControlPlaneTests()
    let namespace = Scenario.functionsNamespace
    static let added = Date(timeIntervalSince1970: 1_800_000_000)

    func taint(_ key: String) -> JSONValue {
        ["key": .string(key), "effect": "NoExecute", "timeAdded": .string(ObjectStore.timestamp(Self.added))]
    }

    func pod(tolerations: [JSONValue]) -> JSONValue { ["spec": ["tolerations": .array(tolerations)]] }

    @Test func whenAPodIsEvicted() {
        let unreachable = taint("node.kubernetes.io/unreachable")
        let now = Self.added.addingTimeInterval(10)
        // Not tolerated: at once.
        #expect(TaintEvictionController.evictionTime(pod: pod(tolerations: []), taints: [unreachable], now: now) == now)
        // Tolerated without a limit: never.
        let forever: JSONValue = ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"]
        #expect(TaintEvictionController.evictionTime(pod: pod(tolerations: [forever]), taints: [unreachable], now: now) == nil)
        // The default 300 s toleration counts from the taint's timeAdded.
        let fiveMinutes: JSONValue = ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300]
        #expect(
            TaintEvictionController.evictionTime(pod: pod(tolerations: [fiveMinutes]), taints: [unreachable], now: now)
                == Self.added.addingTimeInterval(300))
        // Two taints: the earliest deadline wins; one not tolerated at all evicts now.
        let notReady = taint("node.kubernetes.io/not-ready")
        let minute: JSONValue = ["key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60]
        #expect(
            TaintEvictionController.evictionTime(pod: pod(tolerations: [fiveMinutes, minute]), taints: [unreachable, notReady], now: now)
                == Self.added.addingTimeInterval(60))
        #expect(TaintEvictionController.evictionTime(pod: pod(tolerations: [fiveMinutes]), taints: [unreachable, notReady], now: now) == now)
        // An empty key with Exists tolerates every taint (the Liqo virtual-node style wildcard).
        let everything: JSONValue = ["operator": "Exists"]
        #expect(TaintEvictionController.evictionTime(pod: pod(tolerations: [everything]), taints: [unreachable, notReady], now: now) == nil)
    }

    /// The failover issue's starting point, as on a real cluster: the lost peer's pods are
    /// evicted 300 s after the unreachable taint (not before), stay Terminating because the node
    /// cannot confirm, and their replacements stay Pending because the required affinity names
    /// only the lost cluster.
    @Test func aLostPeersPodsAreEvictedAfterTheirTolerationAndTheirReplacementsHaveNowhereToGo() throws {
        let (store, plane, sim) = try base.seeded()
        _ = try store.create(base.service("fn", cluster: "external2"), .knativeServices, namespace: namespace)
        base.settle(plane, store)
        let original = try #require(try base.pods(store, of: "fn").first)
        let name = try #require(original[path: "metadata", "name"]?.stringValue)
        #expect(
            original[path: "spec", "tolerations"]?.arrayValue?.contains {
                $0["key"] == "node.kubernetes.io/unreachable" && $0["tolerationSeconds"] == 300
            } == true, "DefaultTolerationSeconds added the 300 s toleration")

        try sim.setPeer(cluster: "external2", reachable: false)
        base.settle(plane, store)
        #expect(try store.get(.pods, namespace: namespace, name: name)[path: "metadata", "deletionTimestamp"] == nil, "tolerated for 300 s")

        try TaintEvictionController(store: store, now: Date().addingTimeInterval(290)).reconcile()
        #expect(try store.get(.pods, namespace: namespace, name: name)[path: "metadata", "deletionTimestamp"] == nil, "290 s: still tolerated")
        try TaintEvictionController(store: store, now: Date().addingTimeInterval(301)).reconcile()
        base.settle(plane, store)
        let evicted = try store.get(.pods, namespace: namespace, name: name)
        #expect(evicted[path: "metadata", "deletionTimestamp"] != nil, "evicted, and Terminating: the lost node cannot confirm")

        let replacements = try base.pods(store, of: "fn").filter { $0[path: "metadata", "name"]?.stringValue != name }
        let replacement = try #require(replacements.first)
        #expect(replacement[path: "spec", "nodeName"] == nil)
        let scheduled = replacement[path: "status", "conditions"]?.arrayValue?.first { $0["type"] == "PodScheduled" }
        #expect(scheduled?["status"] == "False")
        #expect(scheduled?["message"]?.stringValue?.contains("didn't match Pod's node affinity/selector") == true, "\(scheduled ?? .null)")

        // The peer returns: the Terminating pod's kubelet confirms, the replacement runs there.
        try sim.setPeer(cluster: "external2", reachable: true)
        base.settle(plane, store)
        #expect((try? store.get(.pods, namespace: namespace, name: name)) == nil)
        #expect(try base.pods(store, of: "fn").map { $0[path: "spec", "nodeName"] } == ["liqo-external2"])
    }

    /// A lost peer as Liqo and the node lifecycle controller show it: its pods stop answering at
    /// once (not Ready, out of the endpoints, no route), while its virtual node keeps reporting
    /// Ready for the grace period; then the node turns Ready=Unknown with the unreachable taints.
    @Test func aLostPeersNodeTurnsNotReadyOnlyAfterTheGracePeriod() throws {
        var options = KubeSim.Options()
        options.peerNodeGracePeriod = .seconds(40)
        let sim = try KubeSim(options: options)
        try Scenario.seed.apply(to: sim.store)
        var planOptions = ControlPlane.Options()
        planOptions.podStartDelay = .zero
        let (store, plane) = (sim.store, ControlPlane(store: sim.store, options: planOptions))
        _ = try store.create(base.service("fn", cluster: "external2"), .knativeServices, namespace: namespace)
        base.settle(plane, store)
        let host = FunctionRoutes.canonicalHost(name: "fn", namespace: namespace)
        #expect(FunctionRoutes.build(store: store, clusterLabel: "direktiv.io/namespace").routes[host]?.servingClusters == ["external2"])

        try sim.setPeer(cluster: "external2", reachable: false)
        base.settle(plane, store)
        let pod = try #require(try base.pods(store, of: "fn").first)
        #expect(Pods.isReady(pod) == false, "Liqo marks the pod unavailable at once")
        #expect(FunctionRoutes.build(store: store, clusterLabel: "direktiv.io/namespace").routes[host]?.servingClusters == [])
        var node = try store.get(.nodes, namespace: nil, name: "liqo-external2")
        #expect(Conditions.status(of: node, "Ready") == "True", "within the grace period the node still reports Ready")
        #expect(node[path: "spec", "taints"]?.arrayValue?.contains { $0["key"] == "node.kubernetes.io/unreachable" } == false)

        // The grace period runs out (its end is stamped on the node; moved to the past here
        // rather than waiting 40 s).
        try store.modify(.nodes, namespace: nil, name: "liqo-external2") { node in
            node = node.setting(
                path: ["metadata", "annotations", KubeSim.notReadyAtAnnotation], .string(ObjectStore.timestamp(Date().addingTimeInterval(-1))))
        }
        base.settle(plane, store)
        node = try store.get(.nodes, namespace: nil, name: "liqo-external2")
        #expect(Conditions.status(of: node, "Ready") == "Unknown")
        #expect(
            node[path: "spec", "taints"]?.arrayValue?.filter { $0["key"] == "node.kubernetes.io/unreachable" }.compactMap {
                $0["effect"]?.stringValue
            }
            .sorted() == ["NoExecute", "NoSchedule"])
        #expect(node[path: "metadata", "annotations", KubeSim.notReadyAtAnnotation] == nil)

        try sim.setPeer(cluster: "external2", reachable: true)
        base.settle(plane, store)
        #expect(Conditions.status(of: try store.get(.nodes, namespace: nil, name: "liqo-external2"), "Ready") == "True")
        #expect(FunctionRoutes.build(store: store, clusterLabel: "direktiv.io/namespace").routes[host]?.servingClusters == ["external2"])
    }
}
