import KubeModels

/// Query options of list and watch requests.
public struct ListOptions: Sendable, Hashable {
    public var labelSelector: String?
    public var fieldSelector: String?
    /// Page size; `nil` asks for everything at once.
    public var limit: Int?
    /// The continue token of the previous page.
    public var continueToken: String?
    /// For lists: `"0"` allows a cached answer; for watches: where to start.
    public var resourceVersion: String?

    public init(
        labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, continueToken: String? = nil, resourceVersion: String? = nil
    ) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continueToken = continueToken
        self.resourceVersion = resourceVersion
    }

    var queryItems: [(String, String)] {
        var items: [(String, String)] = []
        if let labelSelector, !labelSelector.isEmpty { items.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { items.append(("fieldSelector", fieldSelector)) }
        if let limit { items.append(("limit", String(limit))) }
        if let continueToken { items.append(("continue", continueToken)) }
        if let resourceVersion { items.append(("resourceVersion", resourceVersion)) }
        return items
    }
}

/// How `delete` removes an object.
public struct DeleteOptions: Sendable, Hashable, Codable {
    public var kind = "DeleteOptions"
    public var apiVersion = "v1"
    /// `Foreground`, `Background` or `Orphan`.
    public var propagationPolicy: String?
    public var gracePeriodSeconds: Int?
    public var preconditions: Preconditions?

    public struct Preconditions: Sendable, Hashable, Codable {
        public var uid: String?
        public var resourceVersion: String?

        public init(uid: String? = nil, resourceVersion: String? = nil) {
            self.uid = uid
            self.resourceVersion = resourceVersion
        }
    }

    public init(propagationPolicy: String? = "Background", gracePeriodSeconds: Int? = nil, preconditions: Preconditions? = nil) {
        self.propagationPolicy = propagationPolicy
        self.gracePeriodSeconds = gracePeriodSeconds
        self.preconditions = preconditions
    }
}

/// The body and content type of a patch request.
public enum Patch: Sendable {
    /// `application/merge-patch+json` (RFC 7386).
    case merge(JSONValue)
    /// `application/json-patch+json` (RFC 6902).
    case json([JSONPatchOperation])
    /// Server-side apply (`application/apply-patch+yaml`); the body may be YAML or JSON.
    case apply(String, fieldManager: String, force: Bool = false)

    var contentType: String {
        switch self {
        case .merge: "application/merge-patch+json"
        case .json: "application/json-patch+json"
        case .apply: "application/apply-patch+yaml"
        }
    }
}
