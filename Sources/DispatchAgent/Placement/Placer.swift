import DispatchCore
import DispatchMetrics
import KubeModels
import Logging

/// Where a function's cluster is decided: the one place the webhook and `POST /v1/functions`
/// both go through.
///
/// The placer takes the current rules, overrides, reservations and inventory, asks the pure
/// core (`Placement.decide`) for a decision, records it (so a recreated function keeps its
/// cluster and its request stays reserved), and turns it into the JSON patch that makes the
/// workload land there. `explain` answers the same question without recording anything.
public struct Placer: Sendable {
    let state: AgentState
    let inventory: @Sendable () -> ClusterInventory
    let metrics: DispatchMetrics
    let logger: Logger
    private let resolvers = LockedValue<(key: ResolverKey, resolver: NamespaceResolver)?>(nil)

    public init(
        state: AgentState, inventory: @escaping @Sendable () -> ClusterInventory, metrics: DispatchMetrics = DispatchMetrics(), logger: Logger
    ) {
        self.state = state
        self.inventory = inventory
        self.metrics = metrics
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

    /// Decides where `workload` runs and records the decision (reserving its request unless
    /// `dryRun`). A recorded or remembered cluster is kept while it stays allowed.
    ///
    /// - Parameters:
    ///   - object: the workload's object as it will be stored, which the patch is made for.
    ///   - previousCluster: the cluster the object was pinned to before this change (UPDATEs).
    ///   - operation: what the caller is doing, for the log (`CREATE`, `UPDATE`, `API`).
    public func place(
        _ workload: FunctionWorkload, object: JSONValue, previousCluster: String? = nil, inventory snapshot: ClusterInventory? = nil,
        dryRun: Bool = false,
        operation: String
    ) -> Placed {
        let snapshot = snapshot ?? inventory()
        let clock = ContinuousClock()
        let started = clock.now
        let inputs = state.placementInputs(for: workload.identity.key, inventory: snapshot, now: started)
        let previous = previousCluster ?? workload.placedCluster ?? inputs.rememberedCluster
        let decision = Placement.decide(
            PlacementRequest(workload: workload, currentCluster: previous),
            rules: inputs.rules,
            overrides: inputs.overrides,
            inventory: snapshot,
            reservations: inputs.reservations
        )
        metrics.placement(decision, duration: clock.now - started)
        state.record(decision, for: workload.identity.key, dryRun: dryRun, now: started)
        logger.info(
            "placement",
            metadata: [
                "function": "\(workload.identity.key)", "direktivNamespace": "\(workload.identity.direktivNamespace ?? "unknown")",
                "operation": "\(operation)", "outcome": "\(decision.outcome.rawValue)", "cluster": "\(decision.cluster ?? "none")",
                "why": "\(decision.summary)",
            ]
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

    /// The decision the webhook would take for a new function with this request, without
    /// recording or reserving anything.
    public func explain(_ request: PlacementRequest) -> PlacementDecision {
        let snapshot = inventory()
        let inputs = state.placementInputs(for: request.function, inventory: snapshot, now: .now)
        return Placement.decide(request, rules: inputs.rules, overrides: inputs.overrides, inventory: snapshot, reservations: inputs.reservations)
    }

    /// The Direktiv namespaces the agent knows: from the rules, the clusters and the overrides.
    public func knownNamespaces(inventory snapshot: ClusterInventory? = nil) -> NamespaceResolver {
        let snapshot = snapshot ?? inventory()
        let rules = state.rules
        let overrides = state.overrides
        let key = ResolverKey(
            direktivNamespaces: rules.direktivNamespaces, overrideNamespaces: overrides.keys.sorted(),
            clusterNamesDigest: snapshot.clusterNamesDigest,
            clusterCount: snapshot.clusters.count)
        if let cached = resolvers.get(), cached.key == key { return cached.resolver }
        let resolver = NamespaceResolver(names: rules.direktivNamespaces + snapshot.clusters.map(\.name) + overrides.keys)
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
