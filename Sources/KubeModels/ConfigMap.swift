/// A Kubernetes `v1` ConfigMap.
public struct ConfigMap: KubeObject, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var data: [String: String]?

    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.apiVersion = "v1"
        self.kind = "ConfigMap"
        self.metadata = metadata
        self.data = data
    }
}
