import DispatchCore
import Foundation
import KubeModels

/// `POST /v1/namespaces/{ns}/rebalance`: every placed function of a Direktiv namespace decided
/// again by the current rules, overrides and capacity, as if it were new; those whose cluster
/// changes are moved.
///
/// The replica answering writes the new cluster into each moved function's FunctionPlacement
/// (outcome `rebalanced`, conditional on the version read) and posts the `Rebalanced` Event; the
/// leader then patches the workloads, within the same `failover.maxMovesPerMinute` budget as
/// failover, as it finishes any move whose placement is ahead of its workload.
public enum Rebalance {
    /// One function of the namespace and what rebalancing does to it.
    public struct Entry: Sendable, Hashable, Encodable {
        public var name: String
        public var kubernetesNamespace: String
        public var from: String
        /// The cluster decided now; `from` when it stays.
        public var to: String
        public var moves: Bool
        /// The decision in one line (why it moves, or why it stays).
        public var reason: String
    }

    /// The decisions, by function name; writes nothing.
    public static func plan(
        _ direktivNamespace: String, placements: [FunctionPlacement], workloads: Set<FunctionKey>, rules: Rules,
        overrides: [String: NamespaceOverride], inventory: ClusterInventory, latencies: LatencyTable = .empty
    ) -> [(entry: Entry, decision: PlacementDecision)] {
        var book = ReservationBook()
        var result: [(Entry, PlacementDecision)] = []
        for placement in placements.sorted(by: { $0.key < $1.key }) {
            guard placement.spec.direktivNamespace == direktivNamespace, let from = placement.spec.cluster, workloads.contains(placement.key),
                let request = placement.spec.request
            else { continue }
            let decision = Placement.decide(
                PlacementRequest(
                    function: placement.key, direktivNamespace: direktivNamespace, requestPerPod: request.perPod, replicas: request.replicas),
                rules: rules, overrides: overrides, inventory: inventory, reservations: book, latencies: latencies)
            let to = decision.outcome.hasCluster ? decision.cluster ?? from : from
            let moves = to != from
            if moves {
                // Later functions of the same call see this one's request on its new cluster.
                book.reserve(
                    Reservation(
                        function: placement.key, cluster: to, requestPerPod: request.perPod, replicas: request.replicas,
                        expiresAt: .now + .seconds(3600)))
            }
            let reason = decision.outcome.hasCluster ? decision.summary : "stays on \(from): \(decision.summary)"
            result.append(
                (
                    Entry(name: placement.key.name, kubernetesNamespace: placement.key.namespace, from: from, to: to, moves: moves, reason: reason),
                    decision
                ))
        }
        return result
    }
}
