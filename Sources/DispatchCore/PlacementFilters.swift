import KubeModels

/// What the filters and scorers of one decision look at, besides the cluster itself.
///
/// A class: it is handed to every filter and scorer for every candidate, and a struct of
/// strings, a dictionary and a set would be retained and released field by field on each call
/// (a third more time per decision at 1,000 clusters, placement-bench).
final class PlacementContext {
    let request: PlacementRequest
    /// The request of all replicas together.
    let totalRequest: Resources
    /// Per cluster with open reservations: its schedulable nodes' free capacity once the
    /// reserved pods are placed.
    let reservedPacking: [String: NodePacking]
    /// Clusters an override excludes.
    let excluded: Set<String>

    init(request: PlacementRequest, totalRequest: Resources, reservedPacking: [String: NodePacking], excluded: Set<String>) {
        self.request = request
        self.totalRequest = totalRequest
        self.reservedPacking = reservedPacking
        self.excluded = excluded
    }
}

/// A check a cluster must pass to be eligible, and the blocker (shown as its reason in every
/// explanation) it sets when the cluster fails it: the filter stage of Karmada's and Open
/// Cluster Management's schedulers.
protocol PlacementFilter: Sendable {
    /// What an explanation says about a cluster that fails this filter.
    var blocker: ClusterEvaluation.Blockers { get }
    /// Whether `cluster` passes.
    func admits(_ cluster: ClusterState, in context: PlacementContext) -> Bool
}

/// The cluster has a schedulable, Ready node without taints the rules do not tolerate.
struct ReadyFilter: PlacementFilter {
    var blocker: ClusterEvaluation.Blockers { .notReady }
    func admits(_ cluster: ClusterState, in context: PlacementContext) -> Bool { cluster.isReady }
}

/// No override excludes the cluster.
struct ExclusionFilter: PlacementFilter {
    var blocker: ClusterEvaluation.Blockers { .excluded }
    func admits(_ cluster: ClusterState, in context: PlacementContext) -> Bool {
        // Most namespaces exclude nothing: no name is hashed then (1,000 candidates per decision).
        context.excluded.isEmpty || !context.excluded.contains(cluster.name)
    }
}

/// Every replica fits on a schedulable node once open reservations hold theirs (a pod never
/// spans nodes, so free capacity summed over the cluster is not enough). Only asked of Ready
/// clusters: a cluster that cannot run anything is not also said to lack room.
struct FitFilter: PlacementFilter {
    var blocker: ClusterEvaluation.Blockers { .doesNotFit }
    func admits(_ cluster: ClusterState, in context: PlacementContext) -> Bool {
        let request = context.request
        if let packing = context.reservedPacking[cluster.name] { return packing.fits(request.replicas, of: request.requestPerPod) }
        if request.replicas == 1 { return cluster.fits(request.requestPerPod) }
        return NodePacking(schedulableNodesOf: cluster).fits(request.replicas, of: request.requestPerPod)
    }
}

/// A per-cluster score for the strategies that rank eligible clusters: the scorer stage.
protocol PlacementScorer: Sendable {
    /// Higher is better; `freeAfter` is what the cluster has left once the function's pods are
    /// placed (negative when it has less than they need).
    func score(_ cluster: ClusterState, freeAfter: Resources, in context: PlacementContext) -> Double
}

/// The share of its allocatable capacity a cluster keeps free after placing, in its scarcer
/// resource: `least-loaded` picks the highest.
struct FreeShareScorer: PlacementScorer {
    func score(_ cluster: ClusterState, freeAfter: Resources, in context: PlacementContext) -> Double {
        let allocatable = cluster.schedulable.allocatable
        guard allocatable.milliCPU > 0, allocatable.memoryBytes > 0 else { return 0 }
        return min(Double(freeAfter.milliCPU) / Double(allocatable.milliCPU), Double(freeAfter.memoryBytes) / Double(allocatable.memoryBytes))
    }
}

/// The filters a candidate is held to, in the order their reasons are given. An enum rather
/// than `[any PlacementFilter]`: the loop over 1,000 candidates then dispatches by a switch
/// instead of through existential boxes, which cost a third more time per decision
/// (placement-bench, 1,000 clusters: 58 against 43 µs).
enum CandidateFilter: PlacementFilter, CaseIterable {
    case exclusion
    case fit

    var blocker: ClusterEvaluation.Blockers {
        switch self {
        case .exclusion: ExclusionFilter().blocker
        case .fit: FitFilter().blocker
        }
    }

    func admits(_ cluster: ClusterState, in context: PlacementContext) -> Bool {
        switch self {
        case .exclusion: ExclusionFilter().admits(cluster, in: context)
        case .fit: FitFilter().admits(cluster, in: context)
        }
    }
}

extension Placement {
    /// The filter every cluster is held to first; a cluster that is not Ready is not also asked
    /// to fit.
    static let healthFilter = ReadyFilter()
    /// The scorer behind `least-loaded` (and the `score` column of every explanation).
    static let scorer = FreeShareScorer()
}
