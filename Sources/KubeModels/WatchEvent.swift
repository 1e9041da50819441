/// One event of a Kubernetes watch stream (`{"type": "ADDED", "object": {...}}`).
public enum WatchEvent<Object: Sendable>: Sendable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    /// A progress marker: everything up to this resource version has been sent.
    case bookmark(resourceVersion: String)
    /// The server ended the watch with an error (`410` means the version is too old: list again).
    case error(Status)

    /// The wire name of the event type.
    public var type: String {
        switch self {
        case .added: "ADDED"
        case .modified: "MODIFIED"
        case .deleted: "DELETED"
        case .bookmark: "BOOKMARK"
        case .error: "ERROR"
        }
    }
}

extension WatchEvent: Decodable where Object: Decodable {
    private enum CodingKeys: String, CodingKey { case type, object }

    private struct BookmarkObject: Decodable {
        var metadata: ListMeta
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "ADDED": self = .added(try container.decode(Object.self, forKey: .object))
        case "MODIFIED": self = .modified(try container.decode(Object.self, forKey: .object))
        case "DELETED": self = .deleted(try container.decode(Object.self, forKey: .object))
        case "BOOKMARK":
            let object = try container.decode(BookmarkObject.self, forKey: .object)
            self = .bookmark(resourceVersion: object.metadata.resourceVersion ?? "")
        case "ERROR": self = .error(try container.decode(Status.self, forKey: .object))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown watch event type \(type)")
        }
    }
}
