/// Which Direktiv namespace and function a workload belongs to, and how that was learnt.
public struct FunctionIdentity: Sendable, Hashable, Codable {
    /// How the Direktiv namespace was found.
    public enum Source: String, Sendable, Hashable, Codable {
        /// The `dispatch.direktiv.io/namespace` annotation.
        case annotation
        /// Direktiv 0.6–0.8.0 labels (`direktiv.io/namespace-name`).
        case direktivLabels = "direktiv-labels"
        /// A Direktiv 0.8.1+ service ID (the object name) matched against known namespaces.
        case serviceID = "service-id"
        /// A Direktiv 0.10+ Deployment's `direktiv-service` pod label matched against known namespaces.
        case deploymentLabel = "deployment-label"
        /// Not found: the workload is not placed.
        case unresolved
    }

    /// The workload's Kubernetes namespace and name.
    public var key: FunctionKey
    /// The Direktiv namespace, when found.
    public var direktivNamespace: String?
    /// The Direktiv function name where Direktiv records it, else the rest of the service ID.
    public var function: String
    public var source: Source

    public init(key: FunctionKey, direktivNamespace: String?, function: String, source: Source) {
        self.key = key
        self.direktivNamespace = direktivNamespace
        self.function = function
        self.source = source
    }
}

extension FunctionIdentity {
    /// Annotation that names the Direktiv namespace explicitly; it wins over everything else.
    public static let namespaceAnnotation = "dispatch.direktiv.io/namespace"
    /// Annotation (and pod label) recording the cluster a workload was placed on.
    public static let clusterAnnotation = "dispatch.direktiv.io/cluster"

    static let namespaceNameLabel = "direktiv.io/namespace-name"
    static let functionNameLabel = "direktiv.io/name"
    static let deploymentServiceLabel = "direktiv-service"

    /// Resolves a 0.8.1+ service ID (`<ns>-<name>-<path>` cleaned, cut to 50, `-<10 hex>`) against
    /// the known Direktiv namespaces, longest first; returns the namespace and the rest of the text.
    public static func resolveServiceID(_ id: String, knownNamespaces: [String]) -> (namespace: String, remainder: String)? {
        NamespaceResolver(names: knownNamespaces).resolve(id)
    }

    /// The ID without its `-<10 hex digits>` hash suffix, when it has one.
    static func serviceIDText(_ id: String) -> String {
        let suffix = id.suffix(11)
        guard suffix.count == 11, suffix.first == "-",
            suffix.dropFirst().allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) })
        else { return id }
        return String(id.dropLast(11))
    }
}
