import Foundation

/// A Secret (v1). `data` values are raw bytes: JSON carries them base64-encoded, which is what
/// Foundation's coders do with `Data`, so nobody handles the encoding by hand.
public struct Secret: KubeObject, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    /// `Opaque` when the API server is given none.
    public var type: String?
    public var data: [String: Data]?

    public init(metadata: ObjectMeta, type: String? = "Opaque", data: [String: Data]? = nil) {
        self.apiVersion = "v1"
        self.kind = "Secret"
        self.metadata = metadata
        self.type = type
        self.data = data
    }

    /// The value under `key` as UTF-8 text, nil when absent.
    public func text(_ key: String) -> String? {
        data?[key].map { String(decoding: $0, as: UTF8.self) }
    }
}
