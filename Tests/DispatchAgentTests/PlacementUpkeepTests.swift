import DispatchAgent
import DispatchCore
import Foundation
import KubeModels
import Testing

/// The leader's pass over the FunctionPlacements, with plain values.
@Suite struct PlacementUpkeepTests {
    static let namespace = "direktiv-services-direktiv"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let retention: TimeInterval = 900

    static func key(_ name: String) -> FunctionKey { FunctionKey(namespace: namespace, name: name) }

    static func placement(
        _ name: String, cluster: String? = "external1", decidedAgo: TimeInterval = 10, workloadUID: String? = "uid-1", missingSince: Date? = nil,
        reservedFor: TimeInterval? = nil
    ) -> FunctionPlacement {
        var placement = FunctionPlacement(
            decision: PlacementDecision(
                outcome: cluster == nil ? .unplaced : .placed, cluster: cluster, summary: "placed on \(cluster ?? "-")", direktivNamespace: "team-a",
                requestPerPod: Resources(milliCPU: 100, memoryBytes: 1 << 20), replicas: 1, rule: nil, override: nil, rows: [], warnings: []),
            key: key(name), kind: .knativeService, decidedAt: now.addingTimeInterval(-decidedAgo), decidedBy: "agent-a",
            reservedUntil: reservedFor.map { now.addingTimeInterval($0) })
        placement.metadata.resourceVersion = "42"
        placement.status?.workloadUID = workloadUID
        placement.status?.workloadMissingSince = missingSince.map(FunctionPlacement.format)
        return placement
    }

    static func workload(_ name: String, cluster: String?, uid: String = "uid-1") -> FunctionRecord {
        FunctionRecord(
            key: key(name), kind: .knativeService,
            identity: FunctionIdentity(key: key(name), direktivNamespace: "team-a", function: name, source: .annotation), cluster: cluster,
            isReady: true, notReadyReason: nil, url: "http://\(name)", uid: uid, creationTimestamp: nil)
    }

    static func inventory(pods: [String: Set<String>] = [:]) -> ClusterInventory {
        ClusterInventory(
            clusterLabel: "direktiv.io/namespace", clusters: [],
            functionClusters: Dictionary(uniqueKeysWithValues: pods.map { (key($0.key), $0.value) }))
    }

    func plan(
        _ placements: [FunctionPlacement], _ workloads: [FunctionRecord], pods: [String: Set<String>] = [:], now: Date = PlacementUpkeepTests.now
    ) -> [PlacementUpkeep.Action] {
        PlacementUpkeep.plan(
            placements: Dictionary(uniqueKeysWithValues: placements.map { ($0.key, $0) }),
            workloads: Dictionary(uniqueKeysWithValues: workloads.map { ($0.key, $0) }), inventory: Self.inventory(pods: pods), now: now,
            retention: Self.retention, identity: "leader")
    }

    @Test func aWorkloadGoneLongerThanTheRetentionLosesItsPlacementAndNotBefore() {
        let missing = Self.placement("gone", missingSince: Self.now.addingTimeInterval(-899))
        #expect(plan([missing], []).isEmpty, "899 s: kept, a recreation may still come")
        let expired = Self.placement("gone", missingSince: Self.now.addingTimeInterval(-900))
        #expect(plan([expired], []) == [.delete(Self.key("gone"), resourceVersion: "42")], "deleted only at the version read")
    }

    @Test func aMissingWorkloadIsMarkedOnceSoThatTheClockSurvivesALeaderChange() throws {
        let actions = plan([Self.placement("gone")], [])
        guard case .patchStatus(let key, let patch) = try #require(actions.first) else {
            Issue.record("expected a status patch, got \(actions)")
            return
        }
        #expect(key == Self.key("gone"))
        #expect(patch["workloadMissingSince"] == .string(FunctionPlacement.format(Self.now)))
        #expect(patch["conditions"]?[2]?["reason"] == "WorkloadMissing")
        // Marked: a later pass (by any leader) counts from the mark and writes nothing meanwhile.
        let marked = Self.placement("gone", missingSince: Self.now)
        #expect(plan([marked], [], now: Self.now.addingTimeInterval(600)).isEmpty)
    }

    @Test func aWorkloadThatNeverAppearedCountsFromTheDecision() {
        let never = Self.placement("never", decidedAgo: 901, workloadUID: nil)
        #expect(plan([never], []) == [.delete(Self.key("never"), resourceVersion: "42")])
    }

    @Test func aRecreatedWorkloadClearsTheMarkAndIsRecordedByItsNewUID() throws {
        let marked = Self.placement("back", missingSince: Self.now.addingTimeInterval(-100))
        let actions = plan([marked], [Self.workload("back", cluster: "external1", uid: "uid-2")], pods: ["back": ["external1"]])
        guard case .patchStatus(_, let patch) = try #require(actions.first) else {
            Issue.record("expected a status patch, got \(actions)")
            return
        }
        #expect(patch["workloadMissingSince"] == .null)
        #expect(patch["workloadUID"] == "uid-2")
        #expect(patch["conditions"]?[2]?["status"] == "True")
    }

    @Test func conditionsSayWhetherTheWorkloadIsWhereThePlacementSays() {
        func conditions(_ workloadCluster: String?, pods: Set<String>) -> [String] {
            let workload = Self.workload("fn", cluster: workloadCluster)
            let inventory = Self.inventory(pods: ["fn": pods])
            return PlacementUpkeep.conditions(Self.placement("fn"), workload: workload, inventory: inventory, now: Self.now).map {
                "\($0.type)=\($0.status)/\($0.reason ?? "")"
            }
        }
        #expect(
            conditions("external1", pods: ["external1"]) == ["AffinityApplied=True/Pinned", "PodsOnCluster=True/PodsRunning", "Ready=True/Placed"])
        #expect(conditions("external1", pods: []) == ["AffinityApplied=True/Pinned", "PodsOnCluster=False/NoPods", "Ready=True/Placed"])
        #expect(
            conditions("external1", pods: ["external1", "main"]) == [
                "AffinityApplied=True/Pinned", "PodsOnCluster=False/PodsElsewhere", "Ready=False/PodsElsewhere",
            ])
        #expect(
            conditions("external2", pods: ["external2"]) == [
                "AffinityApplied=False/PinnedElsewhere", "PodsOnCluster=False/PodsElsewhere", "Ready=False/PinnedElsewhere",
            ])
    }

    @Test func unchangedConditionsWriteNothingAndKeepTheirTransitionTime() {
        var placement = Self.placement("fn")
        let workload = Self.workload("fn", cluster: "external1")
        let inventory = Self.inventory(pods: ["fn": ["external1"]])
        let first = PlacementUpkeep.conditions(placement, workload: workload, inventory: inventory, now: Self.now)
        placement.status?.conditions = first
        #expect(plan([placement], [workload], pods: ["fn": ["external1"]], now: Self.now.addingTimeInterval(300)).isEmpty)
        let later = PlacementUpkeep.conditions(placement, workload: workload, inventory: inventory, now: Self.now.addingTimeInterval(300))
        #expect(later.compactMap(\.lastTransitionTime) == Array(repeating: FunctionPlacement.format(Self.now), count: 3))
    }

    @Test func aReservationEndsWhenThePodsAreVisibleOrItsTimeIsUp() {
        let visible = Self.placement("fn", reservedFor: 60)
        #expect(plan([visible], [], pods: ["fn": ["external1"]]).contains(.endReservation(Self.key("fn"), resourceVersion: "42")))
        #expect(!plan([visible], []).contains(.endReservation(Self.key("fn"), resourceVersion: "42")), "still waiting for its pods")
        let expired = Self.placement("fn", reservedFor: -1)
        #expect(plan([expired], []).contains(.endReservation(Self.key("fn"), resourceVersion: "42")))
    }

    @Test func aWorkloadPlacedBeforeTheDefinitionGetsItsPlacementAndAnUnplacedOneDoesNot() throws {
        let actions = plan([], [Self.workload("legacy", cluster: "external2"), Self.workload("unplaced", cluster: nil)])
        #expect(actions.count == 1)
        guard case .create(let placement) = try #require(actions.first) else {
            Issue.record("expected a create, got \(actions)")
            return
        }
        #expect(placement.key == Self.key("legacy"))
        #expect(placement.spec.cluster == "external2")
        #expect(placement.spec.direktivNamespace == "team-a")
        #expect(placement.reservedUntil == nil, "a running workload reserves nothing")
        #expect(placement.status?.outcome == "kept")
    }

    @Test func aPassDoesAtMostItsLimit() {
        let workloads = (0..<250).map { Self.workload("fn-\($0)", cluster: "main") }
        let actions = PlacementUpkeep.plan(
            placements: [:], workloads: Dictionary(uniqueKeysWithValues: workloads.map { ($0.key, $0) }), inventory: Self.inventory(), now: Self.now,
            retention: Self.retention, identity: "leader", limit: 100)
        #expect(actions.count == 100)
    }
}
