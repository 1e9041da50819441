import KubeModels

/// What the doctor read from the cluster: plain values, so every check is a pure function of
/// them and tests can break one fact at a time.
public struct DoctorFacts: Sendable, Hashable {
    /// An object list that may not be readable: the kind is not served (its CRD is not
    /// installed), or the reader may not list it.
    public enum Listing: Sendable, Hashable {
        case items([JSONValue])
        case notServed
        case unreadable(String)

        public var items: [JSONValue] {
            if case .items(let items) = self { return items }
            return []
        }
    }

    /// One object that may be missing.
    public enum Lookup: Sendable, Hashable {
        case found(JSONValue)
        case missing
        case unreadable(String)

        public var object: JSONValue? {
            if case .found(let object) = self { return object }
            return nil
        }
    }

    public var nodes: [JSONValue] = []
    public var namespaces: Listing = .items([])
    /// Every NamespaceOffloading (`offloading.liqo.io/v1beta1`) in the cluster.
    public var namespaceOffloadings: Listing = .notServed
    /// Whether Knative Serving's Service kind is served.
    public var knativeServed = false
    public var knativeFeatures: Lookup = .missing
    /// Direktiv's engine Deployment.
    public var engine: Lookup = .missing
    /// Function workloads (Knative Services and Deployments) in the functions namespaces.
    public var workloads: [JSONValue] = []
    public var webhookConfiguration: Lookup = .missing
    /// The certificate the agent's webhook serves (PEM), when known.
    public var servingCertificatePEM: String?
    /// ForeignClusters (`core.liqo.io/v1beta1`).
    public var foreignClusters: Listing = .notServed
    /// Liqo's Quotas (`offloading.liqo.io/v1beta1`), whose `limitsEnforcement` applies to pods on virtual nodes.
    public var quotas: Listing = .notServed
    /// The API server's ClusterIP (Service `default/kubernetes`), when readable.
    public var apiServerClusterIP: String?

    public init() {}
}

extension JSONValue {
    var name: String { self[path: "metadata", "name"]?.stringValue ?? "" }
    var namespace: String { self[path: "metadata", "namespace"]?.stringValue ?? "" }
    var labels: [String: String] { self[path: "metadata", "labels"]?.stringMap ?? [:] }
    /// Liqo's label on its virtual nodes.
    var isVirtualNode: Bool { labels["liqo.io/type"] == "virtual-node" }
}
