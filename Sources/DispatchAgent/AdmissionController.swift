import DispatchCore
import Foundation
import KubeModels
import Logging

/// Answers AdmissionReviews: places Direktiv's function workloads and returns the patch.
///
/// Everything that is not a Knative Service or Deployment in a functions namespace, every
/// DELETE or CONNECT, and every UPDATE that leaves the pod template alone or touches an object
/// being deleted, is allowed unchanged. Functions are placed with the pure core; UPDATEs of the
/// template (and recreations of a function placed a moment ago) keep their cluster while it is
/// healthy.
public struct AdmissionController: Sendable {
    let state: AgentState
    let inventory: @Sendable () -> ClusterInventory
    let metrics: DispatchMetrics
    let logger: Logger
    private let resolvers = LockedValue<(key: ResolverKey, resolver: NamespaceResolver)?>(nil)

    public init(state: AgentState, inventory: @escaping @Sendable () -> ClusterInventory, metrics: DispatchMetrics = DispatchMetrics(), logger: Logger) {
        self.state = state
        self.inventory = inventory
        self.metrics = metrics
        self.logger = logger
    }

    /// What the known Direktiv namespaces derive from.
    struct ResolverKey: Hashable {
        var direktivNamespaces: [String]
        var overrideNamespaces: [String]
        var clusterNamesDigest: Int
        var clusterCount: Int
    }

    /// The resolver for rules, cluster and override names; rebuilt only when they change.
    func namespaceResolver(rules: Rules, inventory: ClusterInventory, overrides: [String: NamespaceOverride]) -> NamespaceResolver {
        let key = ResolverKey(direktivNamespaces: rules.direktivNamespaces, overrideNamespaces: overrides.keys.sorted(), clusterNamesDigest: inventory.clusterNamesDigest, clusterCount: inventory.clusters.count)
        if let cached = resolvers.get(), cached.key == key { return cached.resolver }
        let resolver = NamespaceResolver(names: rules.direktivNamespaces + inventory.clusters.map(\.name) + overrides.keys)
        resolvers.set((key, resolver))
        return resolver
    }

    /// A review that cannot be answered: not an AdmissionReview, or one without a uid.
    public struct InvalidReview: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Decodes and answers one review body.
    public func review(body: some Collection<UInt8>) throws(InvalidReview) -> AdmissionReview {
        let review: AdmissionReview
        do {
            review = try AdmissionReview(json: JSONValue.parse(body))
        } catch {
            metrics.admissionRequest(kind: "unknown", operation: "unknown", outcome: "invalid")
            throw InvalidReview(description: "the body is not an AdmissionReview: \(error)")
        }
        guard review.apiVersion == AdmissionReview.apiVersionV1, review.kind == "AdmissionReview" else {
            metrics.admissionRequest(kind: "unknown", operation: "unknown", outcome: "invalid")
            throw InvalidReview(description: "expected apiVersion \(AdmissionReview.apiVersionV1) and kind AdmissionReview, got \(review.apiVersion ?? "none") \(review.kind ?? "none")")
        }
        guard let request = review.request, let uid = request.uid, !uid.isEmpty else {
            metrics.admissionRequest(kind: "unknown", operation: "unknown", outcome: "invalid")
            throw InvalidReview(description: "the AdmissionReview has no request.uid")
        }
        return AdmissionReview(response: respond(to: request, uid: uid))
    }

    func respond(to request: AdmissionReview.Request, uid: String) -> AdmissionReview.Response {
        let kind = request.kind ?? GroupVersionKind(group: "", version: "", kind: "")
        let operation = request.operation ?? ""
        let allow = AdmissionReview.Response(uid: uid, allowed: true)

        let workloadKind: WorkloadKind
        switch kind {
        case .knativeService: workloadKind = .knativeService
        case .deployment: workloadKind = .deployment
        default:
            metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "ignored")
            return allow
        }
        let rules = state.rules
        guard operation == "CREATE" || operation == "UPDATE", let namespace = request.namespace, rules.functionsNamespaces.contains(namespace) else {
            metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "ignored")
            return allow
        }
        guard let object = request.object else {
            return deny(uid, kind: kind, operation: operation, code: 400, reason: .badRequest, "the request carries no object")
        }
        // Knative's own revision Deployments inherit the Service's template, already placed.
        if workloadKind == .deployment, object[path: "metadata", "labels", "serving.knative.dev/revision"] != nil {
            metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "ignored")
            return allow
        }

        if operation == "UPDATE", let oldObject = request.oldObject, Self.leavesPlacementAlone(object, old: oldObject) {
            metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "ignored")
            return allow
        }

        let snapshot = inventory()
        let resolver = namespaceResolver(rules: rules, inventory: snapshot, overrides: state.overrides)
        let workload: FunctionWorkload
        do {
            workload = try WorkloadReader.read(object, kind: workloadKind, namespaces: resolver, sizes: rules.sizes, namespace: namespace)
        } catch {
            return deny(uid, kind: kind, operation: operation, code: 400, reason: .badRequest, "direktiv-dispatch cannot read \(kind.kind) \(request.name ?? ""): \(error)")
        }

        let (decision, inputs) = place(
            workload,
            previousCluster: request.oldObject?[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation]?.stringValue,
            inventory: snapshot,
            dryRun: request.dryRun ?? false
        )
        metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: decision.outcome.rawValue)

        var warnings = decision.warnings
        if workloadKind == .knativeService, decision.outcome.hasCluster, let features = state.knativeFeatures {
            for flag in features.missingFlags(addsTolerations: inputs.rules.liqo.addToleration) {
                warnings.append("Knative's config-features has \(flag) disabled, so Knative will refuse this Service's \(flag == KnativeFeatures.affinityFlag ? "affinity" : "tolerations"): set \(flag): enabled in ConfigMap \(features.configMap)")
            }
        }
        logger.info(
            "placement",
            metadata: [
                "function": "\(workload.identity.key)", "direktivNamespace": "\(workload.identity.direktivNamespace ?? "unknown")",
                "operation": "\(operation)", "outcome": "\(decision.outcome.rawValue)", "cluster": "\(decision.cluster ?? "none")", "why": "\(decision.summary)",
            ]
        )

        switch decision.outcome {
        case .rejected:
            return AdmissionReview.Response(
                uid: uid,
                allowed: false,
                status: .init(code: 403, reason: Status.Reason.forbidden.rawValue, message: "direktiv-dispatch: \(decision.summary)"),
                warnings: warnings.isEmpty ? nil : warnings
            )
        case .unplaced:
            return AdmissionReview.Response(uid: uid, allowed: true, warnings: warnings)
        case .placed, .fallback, .kept:
            let operations = PlacementPatch.operations(
                for: object,
                cluster: decision.cluster!,
                direktivNamespace: workload.identity.direktivNamespace,
                settings: PatchSettings(rules: inputs.rules)
            )
            var response = AdmissionReview.Response(uid: uid, allowed: true, warnings: warnings.isEmpty ? nil : warnings)
            if !operations.isEmpty {
                response.patch = Data(JSONValue.array(operations.map(\.json)).jsonBytes).base64EncodedString()
                response.patchType = "JSONPatch"
            }
            return response
        }
    }

    /// Whether an UPDATE cannot change where the workload's pods run, so it passes untouched:
    /// the object is being deleted (the garbage collector removing a finalizer must never be
    /// refused, or foreground deletions hang), or the pod template is the same as before (a
    /// label, annotation, replica or status change). Deciding again there would refuse harmless
    /// edits while a peer is down, or move a function for a label. The chart's `matchConditions`
    /// say the same to the API server, which then does not even call.
    static func leavesPlacementAlone(_ object: JSONValue, old: JSONValue) -> Bool {
        if object[path: "metadata", "deletionTimestamp"] != nil || old[path: "metadata", "deletionTimestamp"] != nil { return true }
        return object[path: "spec", "template"] == old[path: "spec", "template"]
    }

    /// Places a workload as the webhook does and records the decision (reserving its request
    /// unless `dryRun`). A recorded or remembered cluster is kept while it stays allowed.
    public func place(_ workload: FunctionWorkload, previousCluster: String? = nil, inventory snapshot: ClusterInventory? = nil, dryRun: Bool = false) -> (PlacementDecision, AgentState.PlacementInputs) {
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
        return (decision, inputs)
    }

    /// The decision the webhook would take for a new function with this request, without
    /// recording or reserving anything.
    public func explain(_ request: PlacementRequest) -> PlacementDecision {
        let snapshot = inventory()
        let inputs = state.placementInputs(for: request.function, inventory: snapshot, now: .now)
        return Placement.decide(request, rules: inputs.rules, overrides: inputs.overrides, inventory: snapshot, reservations: inputs.reservations)
    }

    /// The Direktiv namespaces the agent knows: from the rules, the clusters and the overrides.
    public func knownNamespaces() -> NamespaceResolver {
        namespaceResolver(rules: state.rules, inventory: inventory(), overrides: state.overrides)
    }

    private func deny(_ uid: String, kind: GroupVersionKind, operation: String, code: Int, reason: Status.Reason, _ message: String) -> AdmissionReview.Response {
        metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "invalid")
        return AdmissionReview.Response(uid: uid, allowed: false, status: .init(code: code, reason: reason.rawValue, message: message))
    }
}
