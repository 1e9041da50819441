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

    public init(placer: Placer, state: AgentState, metrics: DispatchMetrics = DispatchMetrics()) {
        self.placer = placer
        self.state = state
        self.metrics = metrics
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
            throw InvalidReview(
                description:
                    "expected apiVersion \(AdmissionReview.apiVersionV1) and kind AdmissionReview, got \(review.apiVersion ?? "none") \(review.kind ?? "none")"
            )
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

        let snapshot = placer.inventory()
        let resolver = placer.knownNamespaces(inventory: snapshot)
        let workload: FunctionWorkload
        do {
            workload = try WorkloadReader.read(object, kind: workloadKind, namespaces: resolver, sizes: rules.sizes, namespace: namespace)
        } catch {
            return deny(
                uid, kind: kind, operation: operation, code: 400, reason: .badRequest,
                "direktiv-dispatch cannot read \(kind.kind) \(request.name ?? ""): \(error)")
        }

        let placed = placer.place(
            workload,
            object: object,
            previousCluster: request.oldObject?[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation]?.stringValue,
            inventory: snapshot,
            dryRun: request.dryRun ?? false,
            operation: operation
        )
        let decision = placed.decision
        metrics.admissionRequest(kind: kind.kind, operation: operation, outcome: decision.outcome.rawValue)
        let warnings = placed.warnings.isEmpty ? nil : placed.warnings
        switch decision.outcome {
        case .rejected:
            return AdmissionReview.Response(
                uid: uid,
                allowed: false,
                status: .init(code: 403, reason: Status.Reason.forbidden.rawValue, message: "direktiv-dispatch: \(decision.summary)"),
                warnings: warnings
            )
        case .unplaced, .placed, .fallback, .kept:
            var response = AdmissionReview.Response(uid: uid, allowed: true, warnings: warnings)
            if !placed.operations.isEmpty {
                response.patch = Data(JSONValue.array(placed.operations.map(\.json)).jsonBytes).base64EncodedString()
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
