import DispatchCore
import Foundation
import KubeModels

/// What the leader does to the FunctionPlacements in one pass, decided from plain values: the
/// placements, the workloads and the inventory as this replica sees them, and the time.
///
/// - A workload placed before FunctionPlacements existed (it carries
///   `dispatch.direktiv.io/cluster` but has no placement) gets one (upgrades).
/// - A placement whose workload is missing is marked with the time it went missing (or, when the
///   workload never appeared, the decision's time), and deleted `retention` later; the clock is
///   in the object, so a new leader does not restart it.
/// - A reservation ends once the pods are visible on the cluster or its time is up.
/// - The conditions say whether the workload carries the cluster and whether its pods run there.
public enum PlacementUpkeep {
    public enum Action: Sendable, Hashable {
        /// Create this placement (a workload without one).
        case create(FunctionPlacement)
        /// Merge this into the placement's status.
        case patchStatus(FunctionKey, JSONValue)
        /// Remove the reservation marks.
        case endReservation(FunctionKey, resourceVersion: String?)
        /// Delete the placement, if it is still at this resource version.
        case delete(FunctionKey, resourceVersion: String?)

        public var key: FunctionKey {
            switch self {
            case .create(let placement): placement.key
            case .patchStatus(let key, _), .endReservation(let key, _), .delete(let key, _): key
            }
        }
    }

    /// The actions for one pass, at most `limit` of them (the rest wait for the next pass), in
    /// the order of the functions' keys.
    public static func plan(
        placements: [FunctionKey: FunctionPlacement], workloads: [FunctionKey: FunctionRecord], inventory: ClusterInventory, now: Date,
        retention: TimeInterval, identity: String, limit: Int = 100
    ) -> [Action] {
        var actions: [Action] = []
        for key in Set(placements.keys).union(workloads.keys).sorted() {
            guard actions.count < limit else { break }
            let workload = workloads[key]
            guard let placement = placements[key] else {
                if let workload, let cluster = workload.cluster {
                    actions.append(.create(backfill(workload, cluster: cluster, now: now, identity: identity)))
                }
                continue
            }
            let status = placement.status ?? FunctionPlacement.Status()
            if let until = placement.reservedUntil ?? (placement.metadata.labels?[FunctionPlacement.reservingLabel] != nil ? .distantPast : nil) {
                let visible = placement.spec.cluster.map { inventory.functionClusters[key]?.contains($0) ?? false } ?? true
                if visible || until <= now { actions.append(.endReservation(key, resourceVersion: placement.metadata.resourceVersion)) }
            }
            guard let workload else {
                let neverSeen = status.workloadUID == nil
                let since =
                    FunctionPlacement.parse(status.workloadMissingSince)
                    ?? (neverSeen ? FunctionPlacement.parse(status.decidedAt) ?? FunctionPlacement.parse(placement.metadata.creationTimestamp) : nil)
                if let since, now.timeIntervalSince(since) >= retention {
                    actions.append(.delete(key, resourceVersion: placement.metadata.resourceVersion))
                } else if status.workloadMissingSince == nil {
                    actions.append(
                        .patchStatus(
                            key,
                            [
                                "workloadMissingSince": .string(FunctionPlacement.format(since ?? now)),
                                "conditions": .array(conditions(placement, workload: nil, inventory: inventory, now: now).map(json)),
                            ]))
                }
                continue
            }
            var patch: [String: JSONValue] = [:]
            if let uid = workload.uid, uid != status.workloadUID { patch["workloadUID"] = .string(uid) }
            if status.workloadMissingSince != nil { patch["workloadMissingSince"] = .null }
            let updated = conditions(placement, workload: workload, inventory: inventory, now: now)
            if updated != (status.conditions ?? []) { patch["conditions"] = .array(updated.map(json)) }
            if !patch.isEmpty { actions.append(.patchStatus(key, .object(patch))) }
        }
        return Array(actions.prefix(limit))
    }

    /// The placement recorded for a workload placed before FunctionPlacements existed.
    static func backfill(_ workload: FunctionRecord, cluster: String, now: Date, identity: String) -> FunctionPlacement {
        FunctionPlacement(
            metadata: ObjectMeta(
                name: workload.key.name, namespace: workload.key.namespace, labels: ["app.kubernetes.io/managed-by": "direktiv-dispatch"]),
            spec: .init(
                workload: .init(kind: workload.kind, name: workload.key.name), direktivNamespace: workload.identity.direktivNamespace,
                cluster: cluster),
            status: .init(
                outcome: PlacementDecision.Outcome.kept.rawValue,
                reason:
                    "recorded from the workload's \(FunctionIdentity.clusterAnnotation) annotation: placed on \(cluster) before FunctionPlacements existed",
                decidedAt: FunctionPlacement.format(now), decidedBy: identity, workloadUID: workload.uid))
    }

    /// The conditions a placement should carry now, keeping each one's transition time while
    /// its status stays.
    public static func conditions(_ placement: FunctionPlacement, workload: FunctionRecord?, inventory: ClusterInventory, now: Date) -> [Condition] {
        let old = placement.status?.conditions ?? []
        func condition(_ type: String, _ value: Bool?, _ reason: String, _ message: String) -> Condition {
            let status = value.map { $0 ? "True" : "False" } ?? "Unknown"
            let previous = old.first(ofType: type)
            let since = previous?.status == status ? previous?.lastTransitionTime : nil
            return Condition(type: type, status: status, reason: reason, message: message, lastTransitionTime: since ?? FunctionPlacement.format(now))
        }
        guard let workload else {
            return [
                condition(FunctionPlacement.ConditionType.affinityApplied, nil, "WorkloadMissing", "the workload does not exist"),
                condition(FunctionPlacement.ConditionType.podsOnCluster, nil, "WorkloadMissing", "the workload does not exist"),
                condition(FunctionPlacement.ConditionType.ready, false, "WorkloadMissing", "the workload does not exist"),
            ]
        }
        guard let cluster = placement.spec.cluster else {
            return [
                condition(FunctionPlacement.ConditionType.affinityApplied, false, "Unplaced", "admitted without a cluster"),
                condition(FunctionPlacement.ConditionType.podsOnCluster, nil, "Unplaced", "admitted without a cluster"),
                condition(FunctionPlacement.ConditionType.ready, false, "Unplaced", "admitted without a cluster"),
            ]
        }
        let pinned = workload.cluster == cluster
        let affinity =
            pinned
            ? condition(FunctionPlacement.ConditionType.affinityApplied, true, "Pinned", "the workload is pinned to \(cluster)")
            : condition(
                FunctionPlacement.ConditionType.affinityApplied, false, workload.cluster == nil ? "NotPinned" : "PinnedElsewhere",
                workload.cluster.map { "the workload is pinned to \($0), not \(cluster)" } ?? "the workload carries no cluster")
        let running = inventory.functionClusters[placement.key] ?? []
        let elsewhere = running.subtracting([cluster]).sorted()
        let pods: Condition
        if !elsewhere.isEmpty {
            pods = condition(
                FunctionPlacement.ConditionType.podsOnCluster, false, "PodsElsewhere", "pods run on \(elsewhere.joined(separator: ", "))")
        } else if running.contains(cluster) {
            pods = condition(FunctionPlacement.ConditionType.podsOnCluster, true, "PodsRunning", "pods run on \(cluster)")
        } else {
            pods = condition(FunctionPlacement.ConditionType.podsOnCluster, false, "NoPods", "no pods are visible (starting, or scaled to zero)")
        }
        let ready =
            pinned && elsewhere.isEmpty
            ? condition(FunctionPlacement.ConditionType.ready, true, "Placed", "the workload is pinned to \(cluster) and no pod runs elsewhere")
            : condition(
                FunctionPlacement.ConditionType.ready, false, pinned ? "PodsElsewhere" : affinity.reason ?? "NotPinned",
                "\(affinity.message ?? ""); \(pods.message ?? "")")
        // Conditions others keep (failover's Stranded) stay as they are.
        let own: Set<String> = [
            FunctionPlacement.ConditionType.affinityApplied, FunctionPlacement.ConditionType.podsOnCluster, FunctionPlacement.ConditionType.ready,
        ]
        return [affinity, pods, ready] + old.filter { !own.contains($0.type) }
    }

    /// A condition as JSON, by its own Codable (absent fields stay absent).
    static func json(_ condition: Condition) -> JSONValue {
        (try? JSONValue(encoding: condition)) ?? .null
    }
}
