import KubeModels

/// What the inventory needs of a pod: where it is bound, what it holds, whose function it runs.
///
/// A few dozen bytes instead of a whole Pod, so an inventory over 100,000 pods stays small.
/// Decoding a `PodUsage` reads the pod's JSON as a Pod and keeps only this summary.
public struct PodUsage: Sendable, Hashable {
    public var namespace: String
    public var name: String
    public var nodeName: String?
    /// The pod's effective requests, or `nil` when a quantity could not be read.
    public var requests: Resources?
    public var isTerminated: Bool
    /// The function the pod belongs to (`serving.knative.dev/service` or `direktiv-service` label).
    public var function: String?

    public init(namespace: String, name: String, nodeName: String?, requests: Resources?, isTerminated: Bool, function: String?) {
        self.namespace = namespace
        self.name = name
        self.nodeName = nodeName
        self.requests = requests
        self.isTerminated = isTerminated
        self.function = function
    }

    public init(_ pod: Pod) {
        self.namespace = pod.metadata.namespace ?? ""
        self.name = pod.metadata.name ?? ""
        self.nodeName = pod.spec?.nodeName
        self.requests = try? pod.effectiveRequests()
        self.isTerminated = pod.isTerminated
        let labels = pod.metadata.labels ?? [:]
        self.function = ClusterInventory.functionPodLabels.lazy.compactMap { labels[$0] }.first
    }

    /// The function this pod runs, if any.
    public var functionKey: FunctionKey? {
        function.map { FunctionKey(namespace: namespace, name: $0) }
    }
}

extension PodUsage: Decodable {
    public init(from decoder: any Decoder) throws {
        self.init(try Pod(from: decoder))
    }
}
