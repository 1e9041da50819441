import DispatchAgent
import DispatchCore
import DispatchPrometheus
import Foundation
import KubeClient
import KubeModels
import KubeSim
import Logging
import NIOCore
import Synchronization
import TestSupport
import Testing

/// Failover's hard cases with two replicas: a leader that stops halfway through a move, a
/// function no cluster may take, a placement outliving its workload, and two replicas writing
/// one placement at once.
extension SharedPlacementTests {
    /// Creates `name` through the webhook and waits until its placement is Ready on `cluster`.
    func createPlaced(_ name: String, on cluster: String, _ client: KubeClient, _ directory: FunctionDirectory) async throws {
        _ = try await client.create(function(name, namespace: "team-b", cpu: "100m"), .knativeServices, namespace: Self.functions)
        let key = FunctionKey(namespace: Self.functions, name: name)
        _ = try await next(directory.changes(), within: .seconds(30)) { _ in
            directory.placement(for: key)?.condition(FunctionPlacement.ConditionType.ready)?.status == "True"
        }
        #expect(directory.placement(for: key)?.spec.cluster == cluster)
    }

    func generation(_ name: String, _ client: KubeClient) async throws -> Int64? {
        try await client.get(JSONValue.self, .knativeServices, name: name, namespace: Self.functions)[path: "metadata", "generation"]?.integerValue
    }

    func events(_ reason: String, _ client: KubeClient) async throws -> [JSONValue] {
        try await client.list(JSONValue.self, .events, namespace: Self.functions).items.filter { $0["reason"]?.stringValue == reason }
    }

    /// Waits for an Event with `reason` about workload `name` (those posted already included).
    func awaitEvent(_ reason: String, about name: String, _ client: KubeClient) async throws -> JSONValue {
        let events = try await client.watch(JSONValue.self, .events, namespace: Self.functions, options: ListOptions(resourceVersion: "0"))
        let event = try await next(events, within: .seconds(30)) { event in
            guard case .added(let object) = event else { return false }
            return object["reason"]?.stringValue == reason && object[path: "involvedObject", "name"]?.stringValue == name
        }
        guard case .added(let object) = event else { return .null }
        return object
    }

    /// A leader that recorded a move in the FunctionPlacement and stopped before patching the
    /// workload (what a kill between the two writes leaves) is finished by the next leader: the
    /// workload gets exactly one new revision on the recorded cluster, nobody decides again, and
    /// the move is counted once. Stands for the real sequence: the Lease expires or is released,
    /// the other replica's elector takes it, its first pass sees the placement ahead of the
    /// workload.
    @Test func aMoveLeftHalfwayByAStoppedLeaderIsFinishedOnceByTheNext() async throws {
        let rules = Self.teamRules(["external2", "external1"], ordered: true, top: ["failover: {afterSeconds: 1, failback: false}"])
        try await withReplicas(rules: rules) { sim, a, b, client in
            let holder = try await next(a.agent.elector.leadership.follow()) { $0.holder != nil }.holder
            let (leader, next) = holder == "agent-a" ? (a, b) : (b, a)
            try next.register(in: sim.sim, failurePolicy: "Fail")
            try await createPlaced("halfway", on: "external2", client, next.agent.functions)
            #expect(try await generation("halfway", client) == 1)

            let takeover = Task { try await TestSupport.next(next.agent.elector.leadership.follow()) { $0.isLeader } }
            await leader.stop()
            _ = try await takeover.value
            // The stopped leader's first write, as it made it: spec conditional on the version
            // read, then the status; its second write (the workload) never happened.
            let before = try await placement("halfway", client)
            _ = try await client.patch(
                JSONValue.self, .functionPlacements, name: "halfway", namespace: Self.functions,
                patch: .merge(["metadata": ["resourceVersion": .string(before.metadata.resourceVersion ?? "")], "spec": ["cluster": "external1"]]))
            _ = try await client.patch(
                JSONValue.self, .functionPlacements, name: "halfway", namespace: Self.functions,
                patch: .merge([
                    "status": [
                        "outcome": "failedOver", "reason": "failed over from external2 (unschedulable for 1 s): placed on external1",
                        "decidedBy": .string(holder ?? ""), "failedOverFrom": "external2",
                    ]
                ]), subresource: "status")

            let key = FunctionKey(namespace: Self.functions, name: "halfway")
            let directory = next.agent.functions
            _ = try await TestSupport.next(directory.changes(), within: .seconds(30)) { _ in
                directory.record(namespace: Self.functions, name: "halfway")?.cluster == "external1"
                    && directory.placement(for: key)?.condition(FunctionPlacement.ConditionType.ready)?.status == "True"
                    && directory.placement(for: key)?.spec.cluster == "external1"
            }
            #expect(try await generation("halfway", client) == 2, "one new revision, not two")
            let after = try await placement("halfway", client)
            #expect(after.status?.decidedBy == holder, "the move was finished, not decided again")
            #expect(after.status?.outcome == "failedOver")
            let metrics = String(buffer: next.prometheus.render())
            #expect(metrics.contains(#"direktiv_dispatch_failovers_total{from="external2",to="external1"} 1"#), "\(metrics)")
            let pods = try await client.list(
                Pod.self, .pods, namespace: Self.functions, options: ListOptions(labelSelector: "serving.knative.dev/service=halfway"))
            #expect(pods.items.contains { $0.spec?.nodeName == "liqo-external1" && $0.metadata.deletionTimestamp == nil })
            // The Event the stopped leader would have posted after its patch, once.
            _ = try await awaitEvent("FailedOver", about: "halfway", client)
            #expect(try await events("FailedOver", client).count == 1)
        }
    }

    /// A function whose rule allows only the lost cluster stays, gets the Stranded condition, an
    /// Event and the gauge, keeps its workload untouched; once the cluster is back, all of it
    /// clears. Stands for Liqo's virtual node turning NotReady with a `{namespace}` rule and
    /// `onNoFit: reject`.
    @Test func aFunctionNoOtherClusterMayTakeIsStrandedUntilItsClusterReturns() async throws {
        let rules = Self.teamRules(["external2"], top: ["failover: {afterSeconds: 1}"])
        try await withReplicas(rules: rules) { sim, a, b, client in
            try await createPlaced("stuck", on: "external2", client, a.agent.functions)
            let key = FunctionKey(namespace: Self.functions, name: "stuck")
            let directory = b.agent.functions
            try sim.sim.setPeer(cluster: "external2", reachable: false)
            _ = try await next(directory.changes(), within: .seconds(30)) { _ in
                directory.placement(for: key)?.condition(FunctionPlacement.ConditionType.stranded)?.status == "True"
            }
            let stranded = try await placement("stuck", client)
            #expect(stranded.spec.cluster == "external2", "it stays where it was")
            #expect(stranded.condition(FunctionPlacement.ConditionType.stranded)?.reason == "NoEligibleCluster")
            #expect(stranded.condition(FunctionPlacement.ConditionType.stranded)?.message?.contains("not ready") == true)
            #expect(try await generation("stuck", client) == 1, "the workload is not touched")
            let holder = a.agent.elector.leadership.value.holder
            let leader = holder == "agent-a" ? a : b
            // The gauge is set at the end of the pass that wrote the condition.
            #expect(
                try await eventually {
                    String(buffer: leader.prometheus.render()).contains(#"direktiv_dispatch_stranded_functions{cluster="external2"} 1"#)
                })
            let event = try await awaitEvent("Stranded", about: "stuck", client)
            #expect(event["type"] == "Warning")

            try sim.sim.setPeer(cluster: "external2", reachable: true)
            _ = try await next(directory.changes(), within: .seconds(30)) { _ in
                directory.placement(for: key)?.condition(FunctionPlacement.ConditionType.stranded) == nil
            }
            #expect(
                try await eventually {
                    String(buffer: leader.prometheus.render()).contains(#"direktiv_dispatch_stranded_functions{cluster="external2"} 0"#)
                })
            #expect(try await generation("stuck", client) == 1)
        }
    }

    /// A workload deleted (Direktiv removed the function) loses its FunctionPlacement once it
    /// has been gone `placementRetentionSeconds`, counted from the mark the leader wrote (here
    /// backdated, as an earlier leader's mark or time passing would leave it); the delete is
    /// conditional on the version, as kube-apiserver's preconditions check it.
    @Test func aPlacementOutlivingItsWorkloadByTheRetentionIsDeleted() async throws {
        let rules = Self.teamRules(["external2"], top: ["placementRetentionSeconds: 60"])
        try await withReplicas(rules: rules) { _, a, _, client in
            let directory = a.agent.functions
            try await createPlaced("gone", on: "external2", client, directory)
            try await createPlaced("stays", on: "external2", client, directory)
            try await client.delete(.knativeServices, name: "gone", namespace: Self.functions)
            let key = FunctionKey(namespace: Self.functions, name: "gone")
            _ = try await next(directory.changes(), within: .seconds(30)) { _ in directory.placement(for: key)?.status?.workloadMissingSince != nil }
            let marked = try #require(FunctionPlacement.parse(try await placement("gone", client).status?.workloadMissingSince))
            #expect(abs(marked.timeIntervalSinceNow) < 30, "marked when seen missing")
            // Not deleted before the retention: the placement is still there after the mark.
            #expect(directory.placement(for: key) != nil)

            _ = try await client.patch(
                JSONValue.self, .functionPlacements, name: "gone", namespace: Self.functions,
                patch: .merge(["status": ["workloadMissingSince": .string(FunctionPlacement.format(Date().addingTimeInterval(-61)))]]),
                subresource: "status")
            _ = try await next(directory.changes(), within: .seconds(30)) { _ in directory.placement(for: key) == nil }
            await #expect(throws: KubeAPIError.self) { _ = try await placement("gone", client) }
            #expect(try await placement("stays", client).spec.cluster == "external2", "only the gone workload's placement")
        }
    }

    /// Two replicas decide the same function at the same moment from caches that disagree (each
    /// sees the other peer fuller): the second write meets the first one's version, reads again
    /// and keeps the first replica's cluster, so both answer the same and the object names it.
    /// Stands for kube-apiserver refusing a create of an existing name (409 AlreadyExists) and a
    /// merge patch whose resourceVersion is stale (409 Conflict).
    @Test func twoReplicasWritingOnePlacementAgreeOnTheFirstWritersCluster() async throws {
        let sim = try await SimHarness.start()
        let clientA = try sim.client()
        let clientB = try sim.client()
        try await withTeardown {
            let rules = try RulesParser.parse(
                """
                clusterLabel: direktiv.io/namespace
                functionsNamespaces: [direktiv-services-direktiv]
                namespaces:
                  - match: "team-*"
                    clusters: [external1, external2]
                    strategy: least-loaded
                    onNoFit: reject
                """)
            let nodes = try await clientA.list(Node.self, .nodes).items
            func inventory(busy node: String, milliCPU: Int64) -> ClusterInventory {
                let pod = PodUsage(
                    namespace: "other", name: "filler", nodeName: node, requests: Resources(milliCPU: milliCPU, memoryBytes: 1 << 30),
                    isTerminated: false, function: nil)
                return ClusterInventory(nodes: nodes, podUsage: [pod], clusterLabel: rules.clusterLabel, toleratedTaintKeys: [rules.liqo.taintKey])
            }
            // A's cache: external1 is busy, so external2; B's: external2 is busy, so external1.
            let seenByA = inventory(busy: "liqo-external1", milliCPU: 3500)
            let seenByB = inventory(busy: "liqo-external2", milliCPU: 2000)
            var logger = Logger(label: "race")
            logger.logLevel = .critical
            let namespaces: @Sendable () -> [String] = { rules.functionsNamespaces }
            let placerA = Placer(
                state: AgentState(rules: rules), inventory: { seenByA },
                store: PlacementStore(client: clientA, identity: "agent-a", namespaces: namespaces, cache: { [:] }, logger: logger), logger: logger)
            let key = FunctionKey(namespace: Self.functions, name: "raced")
            let workload = FunctionWorkload(
                kind: .knativeService, identity: FunctionIdentity(key: key, direktivNamespace: "team-b", function: "raced", source: .annotation),
                requestPerPod: Resources(milliCPU: 100, memoryBytes: 100 << 20), requestSource: .containers, replicas: 1)
            let object: JSONValue = ["metadata": ["name": "raced"], "spec": ["template": ["spec": ["containers": []]]]]
            // B has read (nothing yet) and decided; A writes now, before B's write.
            let interleaved = Mutex<PlacementDecision?>(nil)
            let storeB = PlacementStore(
                client: clientB, identity: "agent-b", namespaces: namespaces, cache: { [:] },
                beforeWrite: { _ in
                    guard interleaved.withLock({ $0 == nil }) else { return }
                    let first = await placerA.place(workload, object: object, operation: "CREATE").decision
                    interleaved.withLock { $0 = first }
                }, logger: logger)
            let placerB = Placer(state: AgentState(rules: rules), inventory: { seenByB }, store: storeB, logger: logger)

            let second = await placerB.place(workload, object: object, operation: "CREATE").decision
            let first = try #require(interleaved.withLock { $0 })
            #expect(first.cluster == "external2", "A's cache")
            #expect(second.cluster == "external2", "B read again after the conflict and kept A's cluster: \(second.summary)")
            #expect(second.outcome == .kept)
            let stored = try await clientA.get(FunctionPlacement.self, .functionPlacements, name: "raced", namespace: Self.functions)
            #expect(stored.spec.cluster == "external2")
            #expect(stored.status?.decidedBy == "agent-b", "B's second write, over A's version")
        } teardown: {
            try? await clientA.shutdown()
            try? await clientB.shutdown()
            await sim.stop()
        }
    }
}
