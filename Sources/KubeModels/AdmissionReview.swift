/// An `admission.k8s.io/v1` AdmissionReview: the API server's question to a webhook and its answer.
public struct AdmissionReview: Sendable, Hashable, Codable {
    public static let apiVersionV1 = "admission.k8s.io/v1"

    public var apiVersion: String?
    public var kind: String?
    public var request: Request?
    public var response: Response?

    public init(request: Request) {
        apiVersion = Self.apiVersionV1
        kind = "AdmissionReview"
        self.request = request
    }

    public init(response: Response) {
        apiVersion = Self.apiVersionV1
        kind = "AdmissionReview"
        self.response = response
    }

    /// What the API server asks about.
    public struct Request: Sendable, Hashable, Codable {
        public var uid: String?
        public var kind: GroupVersionKind?
        public var resource: GroupVersionResource?
        public var subResource: String?
        public var requestKind: GroupVersionKind?
        public var requestResource: GroupVersionResource?
        public var name: String?
        public var namespace: String?
        /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
        public var operation: String?
        public var userInfo: JSONValue?
        public var object: JSONValue?
        public var oldObject: JSONValue?
        public var dryRun: Bool?
        public var options: JSONValue?

        public init(
            uid: String,
            kind: GroupVersionKind,
            resource: GroupVersionResource,
            name: String?,
            namespace: String?,
            operation: String,
            object: JSONValue?,
            oldObject: JSONValue? = nil,
            dryRun: Bool = false,
            userInfo: JSONValue? = nil
        ) {
            self.uid = uid
            self.kind = kind
            self.resource = resource
            self.requestKind = kind
            self.requestResource = resource
            self.name = name
            self.namespace = namespace
            self.operation = operation
            self.object = object
            self.oldObject = oldObject
            self.dryRun = dryRun
            self.userInfo = userInfo
        }
    }

    /// The webhook's answer; `uid` echoes the request's.
    public struct Response: Sendable, Hashable, Codable {
        public var uid: String
        public var allowed: Bool
        public var status: ResponseStatus?
        /// Base64 of a JSON Patch document.
        public var patch: String?
        /// `JSONPatch` when there is a patch.
        public var patchType: String?
        public var warnings: [String]?
        public var auditAnnotations: [String: String]?

        public init(
            uid: String, allowed: Bool, status: ResponseStatus? = nil, patch: String? = nil, patchType: String? = nil, warnings: [String]? = nil
        ) {
            self.uid = uid
            self.allowed = allowed
            self.status = status
            self.patch = patch
            self.patchType = patchType
            self.warnings = warnings
        }
    }

    /// The status of a denial, as `metav1.Status` without type meta.
    public struct ResponseStatus: Sendable, Hashable, Codable {
        public var code: Int?
        public var reason: String?
        public var message: String?

        public init(code: Int?, reason: String?, message: String?) {
            self.code = code
            self.reason = reason
            self.message = message
        }
    }
}

public struct GroupVersionKind: Sendable, Hashable, Codable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var kind: String

    public init(group: String, version: String, kind: String) {
        self.group = group
        self.version = version
        self.kind = kind
    }

    public var description: String { group.isEmpty ? "\(version)/\(kind)" : "\(group)/\(version)/\(kind)" }

    public static let knativeService = GroupVersionKind(group: "serving.knative.dev", version: "v1", kind: "Service")
    public static let deployment = GroupVersionKind(group: "apps", version: "v1", kind: "Deployment")
}

public struct GroupVersionResource: Sendable, Hashable, Codable {
    public var group: String
    public var version: String
    public var resource: String

    public init(group: String, version: String, resource: String) {
        self.group = group
        self.version = version
        self.resource = resource
    }
}

extension AdmissionReview {
    /// Reads a review from parsed JSON without a round trip through `Codable`.
    public init(json: JSONValue) throws(JSONParseError) {
        guard case .object = json else { throw JSONParseError(offset: 0, message: "not a JSON object") }
        apiVersion = json["apiVersion"]?.stringValue
        kind = json["kind"]?.stringValue
        if let request = json["request"], case .object = request {
            func gvk(_ value: JSONValue?) -> GroupVersionKind? {
                value.map {
                    GroupVersionKind(
                        group: $0["group"]?.stringValue ?? "", version: $0["version"]?.stringValue ?? "", kind: $0["kind"]?.stringValue ?? "")
                }
            }
            func gvr(_ value: JSONValue?) -> GroupVersionResource? {
                value.map {
                    GroupVersionResource(
                        group: $0["group"]?.stringValue ?? "", version: $0["version"]?.stringValue ?? "", resource: $0["resource"]?.stringValue ?? "")
                }
            }
            var parsed = Request(
                uid: request["uid"]?.stringValue ?? "",
                kind: gvk(request["kind"]) ?? GroupVersionKind(group: "", version: "", kind: ""),
                resource: gvr(request["resource"]) ?? GroupVersionResource(group: "", version: "", resource: ""),
                name: request["name"]?.stringValue,
                namespace: request["namespace"]?.stringValue,
                operation: request["operation"]?.stringValue ?? "",
                object: request["object"].flatMap { $0.isNull ? nil : $0 },
                oldObject: request["oldObject"].flatMap { $0.isNull ? nil : $0 },
                dryRun: request["dryRun"]?.boolValue ?? false,
                userInfo: request["userInfo"]
            )
            parsed.uid = request["uid"]?.stringValue
            parsed.kind = gvk(request["kind"])
            parsed.resource = gvr(request["resource"])
            parsed.operation = request["operation"]?.stringValue
            parsed.requestKind = gvk(request["requestKind"])
            parsed.requestResource = gvr(request["requestResource"])
            parsed.subResource = request["subResource"]?.stringValue
            parsed.options = request["options"]
            self.request = parsed
        }
    }
}

extension AdmissionReview.Response {
    /// The response as JSON, built directly for the webhook's hot path.
    public var json: JSONValue {
        var members: [String: JSONValue] = ["uid": .string(uid), "allowed": .bool(allowed)]
        if let status {
            var statusMembers: [String: JSONValue] = [:]
            if let code = status.code { statusMembers["code"] = .integer(Int64(code)) }
            if let reason = status.reason { statusMembers["reason"] = .string(reason) }
            if let message = status.message { statusMembers["message"] = .string(message) }
            members["status"] = .object(statusMembers)
        }
        if let patch { members["patch"] = .string(patch) }
        if let patchType { members["patchType"] = .string(patchType) }
        if let warnings { members["warnings"] = .array(warnings.map(JSONValue.string)) }
        if let auditAnnotations { members["auditAnnotations"] = .object(auditAnnotations.mapValues(JSONValue.string)) }
        return .object(members)
    }
}

extension JSONPatchOperation {
    /// The operation as JSON.
    public var json: JSONValue {
        var members: [String: JSONValue] = ["op": .string(op.rawValue), "path": .string(path)]
        if let from { members["from"] = .string(from) }
        if let value { members["value"] = value }
        return .object(members)
    }
}
