import DispatchCore
import DispatchMetrics
import Foundation
import KubeModels
import Logging

/// Answers AdmissionReviews: maps each review to the ``Placer`` and its decision back to an
/// admission response with the patch.
///
/// Everything that is not a Knative Service or Deployment in a functions namespace, every
/// DELETE or CONNECT, and every UPDATE that leaves the pod template alone or touches an object
/// being deleted, is allowed unchanged. UPDATEs of the template (and recreations of a function
/// placed a moment ago) keep their cluster while it is healthy: the placer decides that.
public struct AdmissionController: Sendable {
    let placer: Placer
    let state: AgentState
    let metrics: DispatchMetrics
    /// Removes the agent's proxy from function containers; nil when the agent was not told it.
    let egress: EgressProxyRewrite?

    public init(placer: Placer, state: AgentState, egress: EgressProxyRewrite? = nil, metrics: DispatchMetrics = DispatchMetrics()) {
        self.egress = egress
        self.placer = placer
        self.state = state
        self.metrics = metrics
    }

    /// A review that cannot be answered: not an AdmissionReview, or one without a uid.
    public struct InvalidReview: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Decodes and answers one review body, sharing the decision as the function's FunctionPlacement.
    public func review(body: some Collection<UInt8>) async throws(InvalidReview) -> AdmissionReview {
        let (request, uid) = try decode(body)
        switch classify(request, uid: uid) {
        case .answered(let response):
            return AdmissionReview(response: response)
        case .place(let context):
            let placed = await placer.place(
                context.workload, object: context.object, previousCluster: context.previousCluster, inventory: context.inventory,
                dryRun: request.dryRun ?? false, workloadUID: request.oldObject?[path: "metadata", "uid"]?.stringValue,
                operation: context.operation)
            return AdmissionReview(response: answer(context, placed))
        }
    }

    /// Answers one review body from `shared` alone, writing nothing (for fuzzing the webhook's
    /// reading and patching without an API server).
    public func review(body: some Collection<UInt8>, shared: SharedPlacements) throws(InvalidReview) -> AdmissionReview {
        let (request, uid) = try decode(body)
        switch classify(request, uid: uid) {
        case .answered(let response):
            return AdmissionReview(response: response)
        case .place(let context):
            let placed = placer.decide(
                context.workload, object: context.object, previousCluster: context.previousCluster, inventory: context.inventory, shared: shared)
            return AdmissionReview(response: answer(context, placed))
        }
    }

    private func decode(_ body: some Collection<UInt8>) throws(InvalidReview) -> (AdmissionReview.Request, String) {
        let review: AdmissionReview
        do {
            review = try AdmissionReview(json: JSONValue.parse(body))
        } catch {
            metrics.admissionRequest(kind: "unknown", operation: "unknown", outcome: "invalid")
            throw InvalidReview(description: "the body is not an AdmissionReview: \(error)")
        }
        guard review.apiVersion == AdmissionReview.apiVersionV1, review.kind == "AdmissionReview" else {
            metrics.admissionRequest(kind: "unknown", operation: "unknown", outcome: "invalid")
            throw InvalidReview(
                description:
                    "expected apiVersion \(AdmissionReview.apiVersionV1) and kind AdmissionReview, got \(review.apiVersion ?? "none") \(review.kind ?? "none")"
            )
        }
        guard let request = review.request, let uid = request.uid, !uid.isEmpty else {
            metrics.admissionRequest(kind: "unknown", operation: "unknown", outcome: "invalid")
            throw InvalidReview(description: "the AdmissionReview has no request.uid")
        }
        return (request, uid)
    }

    /// A review that needs a placement: what the placer is given and the answer needs.
    struct PlacementContext {
        var uid: String
        var kind: GroupVersionKind
        var operation: String
        var workload: FunctionWorkload
        var object: JSONValue
        var previousCluster: String?
        var inventory: ClusterInventory
    }

    enum Classification {
        /// Answered without a placement: ignored, or refused as unreadable.
        case answered(AdmissionReview.Response)
        case place(PlacementContext)
    }

    func classify(_ request: AdmissionReview.Request, uid: String) -> Classification {
        let kind = request.kind ?? GroupVersionKind(group: "", version: "", kind: "")
        let operation = request.operation ?? ""
        let allow = AdmissionReview.Response(uid: uid, allowed: true)

        let workloadKind: WorkloadKind
        switch kind {
        case .knativeService: workloadKind = .knativeService
        case .deployment: workloadKind = .deployment
        default:
            metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "ignored")
            return .answered(allow)
        }
        let rules = state.rules
        guard operation == "CREATE" || operation == "UPDATE", let namespace = request.namespace, rules.functionsNamespaces.contains(namespace) else {
            metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "ignored")
            return .answered(allow)
        }
        guard let object = request.object else {
            return .answered(deny(uid, kind: kind, operation: operation, code: 400, reason: .badRequest, "the request carries no object"))
        }
        // Knative's own revision Deployments inherit the Service's template, already placed.
        if workloadKind == .deployment, object[path: "metadata", "labels", "serving.knative.dev/revision"] != nil {
            metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "ignored")
            return .answered(allow)
        }

        if operation == "UPDATE", let oldObject = request.oldObject, Self.leavesPlacementAlone(object, old: oldObject) {
            metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "ignored")
            return .answered(allow)
        }

        let snapshot = placer.inventory()
        let resolver = placer.knownNamespaces(inventory: snapshot)
        let workload: FunctionWorkload
        do {
            workload = try WorkloadReader.read(object, kind: workloadKind, namespaces: resolver, sizes: rules.sizes, namespace: namespace)
        } catch {
            return .answered(
                deny(
                    uid, kind: kind, operation: operation, code: 400, reason: .badRequest,
                    "direktiv-dispatch cannot read \(kind.kind) \(request.name ?? ""): \(error)"))
        }
        return .place(
            PlacementContext(
                uid: uid, kind: kind, operation: operation, workload: workload, object: object,
                previousCluster: request.oldObject?[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation]?.stringValue,
                inventory: snapshot))
    }

    /// The admission response for a decision.
    func answer(_ context: PlacementContext, _ placed: Placer.Placed) -> AdmissionReview.Response {
        let decision = placed.decision
        metrics.admissionRequest(kind: context.kind.kind, operation: context.operation, outcome: decision.outcome.rawValue)
        let warnings = placed.warnings.isEmpty ? nil : placed.warnings
        switch decision.outcome {
        case .rejected:
            return AdmissionReview.Response(
                uid: context.uid,
                allowed: false,
                status: .init(code: 403, reason: Status.Reason.forbidden.rawValue, message: "direktiv-dispatch: \(decision.summary)"),
                warnings: warnings
            )
        case .unplaced, .placed, .fallback, .kept:
            var response = AdmissionReview.Response(uid: context.uid, allowed: true, warnings: warnings)
            // Both are made for the object as submitted and touch different paths.
            let operations = placed.operations + (egress?.operations(for: context.object) ?? [])
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

    private func deny(
        _ uid: String, kind: GroupVersionKind, operation: String, code: Int, reason: Status.Reason, _ message: String
    ) -> AdmissionReview.Response {
        metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: "invalid")
        return AdmissionReview.Response(uid: uid, allowed: false, status: .init(code: code, reason: reason.rawValue, message: message))
    }
}
