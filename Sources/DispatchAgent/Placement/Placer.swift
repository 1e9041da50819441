import DispatchCore
import DispatchMetrics
import Foundation
import KubeModels
import Logging

/// Where a function's cluster is decided: the one place the webhook and `POST /v1/functions`
/// both go through.
///
/// The placer reads the shared FunctionPlacements (the function's own, so a recreated function
/// keeps its cluster, and the ones still reserving capacity), asks the pure core
/// (`Placement.decide`) for a decision with the current rules, overrides and inventory, writes
/// the decision as the function's FunctionPlacement (reading and deciding again when another
/// replica wrote first), and turns it into the JSON patch that makes the workload land there.
/// `explain` answers the same question from this replica's cache without writing anything.
public struct Placer: Sendable {
    let state: AgentState
    let inventory: @Sendable () -> ClusterInventory
    let metrics: DispatchMetrics
    let logger: Logger
    /// Where decisions are shared; nil only for a placer that shares nothing (fuzzing, unit tests).
    let store: PlacementStore?
    /// Told of every decision, for the workload's Events.
    let events: PlacementEvents?
    /// This replica's cache of the placements, for `explain`.
    let cached: @Sendable () -> [FunctionKey: FunctionPlacement]
    let now: @Sendable () -> Date
    private let resolvers = LockedValue<(key: ResolverKey, resolver: NamespaceResolver)?>(nil)

    public init(
        state: AgentState, inventory: @escaping @Sendable () -> ClusterInventory, store: PlacementStore? = nil, events: PlacementEvents? = nil,
        cached: @escaping @Sendable () -> [FunctionKey: FunctionPlacement] = { [:] }, metrics: DispatchMetrics = DispatchMetrics(),
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.state = state
        self.inventory = inventory
        self.store = store
        self.events = events
        self.cached = cached
        self.metrics = metrics
        self.now = now
        self.logger = logger
    }

    /// A decision and what it takes to apply it to the workload's object.
    public struct Placed: Sendable {
        public var decision: PlacementDecision
        /// The JSON patch that pins the object to `decision.cluster`; empty when the decision
        /// names no cluster or the object is already pinned there.
        public var operations: [JSONPatchOperation]
        /// What the caller should pass on: the decision's own warnings, and Knative feature
        /// flags that would make Knative refuse the patch.
        public var warnings: [String]
    }

    /// Decides where `workload` runs, shares the decision as its FunctionPlacement (unless
    /// `dryRun` or rejected) and tells the workload's Events. The cluster of the object's earlier
    /// placement, or of the function's FunctionPlacement, is kept while it stays allowed.
    ///
    /// A decision whose object cannot be written still holds (the webhook must not refuse
    /// Direktiv's functions because of its own bookkeeping); the leader records it later from the
    /// workload's annotation.
    ///
    /// - Parameters:
    ///   - object: the workload's object as it will be stored, which the patch is made for.
    ///   - previousCluster: the cluster the object was pinned to before this change (UPDATEs).
    ///   - workloadUID: the workload's uid when it exists already (UPDATEs), for its Event.
    ///   - operation: what the caller is doing, for the log (`CREATE`, `UPDATE`, `API`).
    public func place(
        _ workload: FunctionWorkload, object: JSONValue, previousCluster: String? = nil, inventory snapshot: ClusterInventory? = nil,
        dryRun: Bool = false, workloadUID: String? = nil, operation: String
    ) async -> Placed {
        let snapshot = snapshot ?? inventory()
        let clock = ContinuousClock()
        let started = clock.now
        let key = workload.identity.key
        var placed: Placed
        var attempt = 0
        var shared = SharedPlacements.none
        while true {
            attempt += 1
            if let store { shared = await store.read(for: key) }
            placed = decide(workload, object: object, previousCluster: previousCluster, inventory: snapshot, shared: shared)
            guard let store, !dryRun, placed.decision.outcome != .rejected else { break }
            // The leader's own move arriving as an UPDATE: the placement already says all of it.
            if placed.decision.outcome == .kept, let own = shared.own, own.isMove, placed.decision.cluster == own.spec.cluster { break }
            let decidedAt = now()
            let reserves = placed.decision.outcome == .placed || placed.decision.outcome == .fallback
            let record = FunctionPlacement(
                decision: placed.decision, key: key, kind: workload.kind, decidedAt: decidedAt, decidedBy: store.identity,
                reservedUntil: reserves ? decidedAt.addingTimeInterval(Double(state.rules.reservationTimeoutSeconds)) : nil)
            do {
                try await store.write(record, over: shared.own)
                break
            } catch is PlacementStore.Conflict where attempt < 3 {
                logger.debug("another replica wrote this function's placement first; reading it and deciding again", metadata: ["function": "\(key)"])
            } catch {
                metrics.placementWriteFailed()
                logger.warning(
                    "the decision holds but could not be written as a FunctionPlacement; the leader records it from the workload",
                    metadata: ["function": "\(key)", "error": "\(error)"])
                break
            }
        }
        let decision = placed.decision
        metrics.placement(decision, duration: clock.now - started)
        logger.info(
            "placement",
            metadata: [
                "function": "\(key)", "direktivNamespace": "\(workload.identity.direktivNamespace ?? "unknown")",
                "operation": "\(operation)", "outcome": "\(decision.outcome.rawValue)", "cluster": "\(decision.cluster ?? "none")",
                "why": "\(decision.summary)", "shared": "\(shared.isFresh ? "read from the API server" : store == nil ? "no" : "cache")",
            ]
        )
        if !dryRun {
            events?.record(decision, for: key, kind: workload.kind, workloadUID: workloadUID, at: now())
        }
        return placed
    }

    /// The decision for `workload` given what the replicas share, and its patch; writes nothing.
    public func decide(
        _ workload: FunctionWorkload, object: JSONValue, previousCluster: String? = nil, inventory snapshot: ClusterInventory,
        shared: SharedPlacements
    ) -> Placed {
        let inputs = state.placementInputs
        let key = workload.identity.key
        let reservations = shared.reservations(excluding: key, inventory: snapshot, now: now(), instant: .now)
        // An object that names the cluster its FunctionPlacement names (the leader moved it there)
        // keeps that one, not the one it had before the move.
        let agreed = workload.placedCluster.flatMap { $0 == shared.keptCluster ? $0 : nil }
        let previous = agreed ?? previousCluster ?? workload.placedCluster ?? shared.keptCluster
        let decision = Placement.decide(
            PlacementRequest(workload: workload, currentCluster: previous),
            rules: inputs.rules,
            overrides: inputs.overrides,
            inventory: snapshot,
            reservations: reservations,
            latencies: state.latencyTable
        )
        var warnings = decision.warnings
        var operations: [JSONPatchOperation] = []
        if decision.outcome.hasCluster, let cluster = decision.cluster {
            if workload.kind == .knativeService, let features = state.knativeFeatures {
                for flag in features.missingFlags(addsTolerations: inputs.rules.liqo.addToleration) {
                    let field = flag == KnativeFeatures.affinityFlag ? "affinity" : "tolerations"
                    warnings.append(
                        "Knative's config-features has \(flag) disabled, so Knative will refuse this Service's \(field): set \(flag): enabled in ConfigMap \(features.configMap)"
                    )
                }
            }
            operations = PlacementPatch.operations(
                for: object, cluster: cluster, direktivNamespace: workload.identity.direktivNamespace, settings: PatchSettings(rules: inputs.rules))
        }
        return Placed(decision: decision, operations: operations, warnings: warnings)
    }

    /// The decision the webhook would take for a new function with this request, from this
    /// replica's cache of the placements, without writing or reserving anything.
    public func explain(_ request: PlacementRequest) -> PlacementDecision {
        let snapshot = inventory()
        let inputs = state.placementInputs
        let cache = cached()
        let shared = SharedPlacements(
            own: request.function.flatMap { cache[$0] }, reserving: cache.values.filter { $0.reservedUntil != nil })
        let reservations = shared.reservations(excluding: request.function, inventory: snapshot, now: now(), instant: .now)
        var request = request
        if request.currentCluster == nil { request.currentCluster = shared.keptCluster }
        return Placement.decide(
            request, rules: inputs.rules, overrides: inputs.overrides, inventory: snapshot, reservations: reservations,
            latencies: state.latencyTable)
    }

    /// The open reservations as this replica's cache has them, for `/v1/clusters`.
    public func reservations() -> ReservationBook {
        let cache = cached()
        return SharedPlacements(reserving: cache.values.filter { $0.reservedUntil != nil })
            .reservations(excluding: nil, inventory: inventory(), now: now(), instant: .now)
    }

    /// The Direktiv namespaces the agent knows: from the rules, Direktiv's API, the clusters and the overrides.
    public func knownNamespaces(inventory snapshot: ClusterInventory? = nil) -> NamespaceResolver {
        let snapshot = snapshot ?? inventory()
        let overrides = state.overrides
        let direktivNamespaces = state.direktivNamespaces
        let key = ResolverKey(
            direktivNamespaces: direktivNamespaces, overrideNamespaces: overrides.keys.sorted(),
            clusterNamesDigest: snapshot.clusterNamesDigest,
            clusterCount: snapshot.clusters.count)
        if let cached = resolvers.get(), cached.key == key { return cached.resolver }
        let resolver = NamespaceResolver(names: direktivNamespaces + snapshot.clusters.map(\.name) + overrides.keys)
        resolvers.set((key, resolver))
        return resolver
    }

    /// What the known Direktiv namespaces derive from: the resolver is rebuilt only when they change.
    struct ResolverKey: Hashable {
        var direktivNamespaces: [String]
        var overrideNamespaces: [String]
        var clusterNamesDigest: Int
        var clusterCount: Int
    }
}
