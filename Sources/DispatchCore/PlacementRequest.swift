import KubeModels

/// What placement needs to know about a function.
public struct PlacementRequest: Sendable, Hashable {
    /// The workload, when there is one (explain requests have none).
    public var function: FunctionKey?
    /// The Direktiv namespace; `nil` when it could not be resolved (then nothing is placed).
    public var direktivNamespace: String?
    public var requestPerPod: Resources
    /// Pods that must fit at once (Knative min-scale, at least 1).
    public var replicas: Int
    /// The cluster an earlier placement chose; kept while healthy and allowed.
    public var currentCluster: String?

    public init(function: FunctionKey? = nil, direktivNamespace: String?, requestPerPod: Resources, replicas: Int = 1, currentCluster: String? = nil)
    {
        self.function = function
        self.direktivNamespace = direktivNamespace
        self.requestPerPod = requestPerPod
        self.replicas = max(replicas, 1)
        self.currentCluster = currentCluster
    }

    /// The request for a workload read from Kubernetes.
    public init(workload: FunctionWorkload, currentCluster: String? = nil) {
        self.init(
            function: workload.identity.key,
            direktivNamespace: workload.identity.direktivNamespace,
            requestPerPod: workload.requestPerPod,
            replicas: workload.replicas,
            currentCluster: currentCluster ?? workload.placedCluster
        )
    }
}
