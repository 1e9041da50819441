/// The Kubernetes `Status` object: the body of every API error, and of some successful deletes.
public struct Status: Sendable, Hashable, Codable, Error, CustomStringConvertible {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ListMeta?
    /// `Success` or `Failure`.
    public var status: String?
    public var message: String?
    /// A machine-readable reason such as `NotFound` or `Conflict` (see ``Reason``).
    public var reason: String?
    public var details: Details?
    /// The HTTP status code.
    public var code: Int?

    public init(status: String? = "Failure", message: String? = nil, reason: String? = nil, details: Details? = nil, code: Int? = nil) {
        self.apiVersion = "v1"
        self.kind = "Status"
        self.metadata = ListMeta()
        self.status = status
        self.message = message
        self.reason = reason
        self.details = details
        self.code = code
    }

    /// A failure with the given code, reason and message, as the API server writes it.
    public static func failure(_ code: Int, _ reason: Reason, _ message: String, details: Details? = nil) -> Status {
        Status(status: "Failure", message: message, reason: reason.rawValue, details: details, code: code)
    }

    public struct Details: Sendable, Hashable, Codable {
        public var name: String?
        public var group: String?
        public var kind: String?
        public var uid: String?
        public var causes: [Cause]?
        public var retryAfterSeconds: Int?

        public init(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [Cause]? = nil) {
            self.name = name
            self.group = group
            self.kind = kind
            self.causes = causes
        }
    }

    public struct Cause: Sendable, Hashable, Codable {
        public var reason: String?
        public var message: String?
        public var field: String?

        public init(reason: String? = nil, message: String? = nil, field: String? = nil) {
            self.reason = reason
            self.message = message
            self.field = field
        }
    }

    /// The `reason` values the agent and the simulator use.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case badRequest = "BadRequest"
        case unauthorized = "Unauthorized"
        case forbidden = "Forbidden"
        case notFound = "NotFound"
        case alreadyExists = "AlreadyExists"
        case conflict = "Conflict"
        case gone = "Gone"
        case expired = "Expired"
        case invalid = "Invalid"
        case methodNotAllowed = "MethodNotAllowed"
        case notAcceptable = "NotAcceptable"
        case unsupportedMediaType = "UnsupportedMediaType"
        case requestEntityTooLarge = "RequestEntityTooLarge"
        case tooManyRequests = "TooManyRequests"
        case internalError = "InternalError"
        case timeout = "Timeout"
        case serviceUnavailable = "ServiceUnavailable"
    }

    public var description: String {
        "\(code.map(String.init) ?? "?") \(reason ?? "Unknown"): \(message ?? "")"
    }
}
