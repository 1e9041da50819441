import KubeModels

/// A request the API server refused: the decoded `Status` keeps its code, reason and message.
public struct KubeAPIError: Error, Sendable, CustomStringConvertible {
    public var status: Status

    public init(status: Status) {
        self.status = status
    }

    public var code: Int { status.code ?? 0 }
    public var reason: String { status.reason ?? "" }
    public var message: String { status.message ?? "" }

    public var isNotFound: Bool { code == 404 }
    public var isAlreadyExists: Bool { code == 409 && reason == Status.Reason.alreadyExists.rawValue }
    public var isConflict: Bool { code == 409 && reason != Status.Reason.alreadyExists.rawValue }
    /// The requested resource version is too old (`410`): list again.
    public var isGone: Bool { code == 410 }
    public var isInvalid: Bool { code == 422 }

    public var description: String { "Kubernetes API: \(status)" }
}

/// Failures that are not API answers: the connection, or a body that could not be read.
public enum KubeClientError: Error, Sendable, CustomStringConvertible {
    case transport(String)
    case decoding(String)
    case responseTooLarge(Int)

    public var description: String {
        switch self {
        case .transport(let message): "cannot reach the Kubernetes API: \(message)"
        case .decoding(let message): "unexpected answer from the Kubernetes API: \(message)"
        case .responseTooLarge(let limit): "Kubernetes API answer larger than \(limit) bytes"
        }
    }
}
