import KubeModels

/// What the agent knows about one function workload it has seen: who it belongs to, where it
/// was placed, and whether it serves.
public struct FunctionRecord: Sendable, Hashable, Codable {
    /// The workload's Kubernetes namespace and name (the host the engine calls).
    public var key: FunctionKey
    public var kind: WorkloadKind
    public var identity: FunctionIdentity
    /// The cluster the webhook placed it on (`dispatch.direktiv.io/cluster`), if it did.
    public var cluster: String?
    /// Ready as its controller reports it for the current generation.
    public var isReady: Bool
    /// Why it is not ready (the condition's reason and message), when it is not.
    public var notReadyReason: String?
    /// The in-cluster URL it answers at.
    public var url: String
    public var uid: String?
    public var creationTimestamp: String?

    /// Changes whenever the workload is placed anew: recreated (Direktiv deletes and creates on
    /// every change) or moved to another cluster. The first call of each placement is a cold start.
    public var placementID: String { "\(uid ?? key.description)@\(cluster ?? "")" }

    public init(
        key: FunctionKey, kind: WorkloadKind, identity: FunctionIdentity, cluster: String?, isReady: Bool, notReadyReason: String?, url: String,
        uid: String?, creationTimestamp: String?
    ) {
        self.key = key
        self.kind = kind
        self.identity = identity
        self.cluster = cluster
        self.isReady = isReady
        self.notReadyReason = notReadyReason
        self.url = url
        self.uid = uid
        self.creationTimestamp = creationTimestamp
    }

    /// Reads a Knative Service.
    public init(service: KnativeService, namespaces: NamespaceResolver) {
        let key = FunctionKey(namespace: service.metadata.namespace ?? "", name: service.metadata.name ?? "")
        let templateLabels = service.spec?[path: "template", "metadata", "labels"]?.stringMap ?? [:]
        let ready = service.status?.conditions?.first(ofType: "Ready")
        let current = service.status?.observedGeneration == service.metadata.generation
        self.init(
            key: key,
            kind: .knativeService,
            identity: WorkloadReader.identify(
                key: key, kind: .knativeService,
                labels: (service.metadata.labels ?? [:]).merging(templateLabels) { object, _ in object },
                annotations: service.metadata.annotations ?? [:], namespaces: namespaces),
            cluster: service.metadata.annotations?[FunctionIdentity.clusterAnnotation],
            isReady: service.isReady,
            notReadyReason: service.isReady ? nil : Self.reason(ready, current: current),
            url: service.status?.address?.url ?? "http://\(key.name).\(key.namespace).svc.cluster.local",
            uid: service.metadata.uid,
            creationTimestamp: service.metadata.creationTimestamp
        )
    }

    /// Reads a Deployment (Direktiv 0.10 and later).
    public init(deployment: Deployment, namespaces: NamespaceResolver) {
        let key = FunctionKey(namespace: deployment.metadata.namespace ?? "", name: deployment.metadata.name ?? "")
        let templateLabels = deployment.spec?[path: "template", "metadata", "labels"]?.stringMap ?? [:]
        let available = deployment.status?.conditions?.first(ofType: "Available")
        let current = deployment.status?.observedGeneration == deployment.metadata.generation
        self.init(
            key: key,
            kind: .deployment,
            identity: WorkloadReader.identify(
                key: key, kind: .deployment,
                labels: (deployment.metadata.labels ?? [:]).merging(templateLabels) { object, _ in object },
                annotations: deployment.metadata.annotations ?? [:], namespaces: namespaces),
            cluster: deployment.metadata.annotations?[FunctionIdentity.clusterAnnotation],
            isReady: deployment.isReady,
            notReadyReason: deployment.isReady ? nil : Self.reason(available, current: current),
            url: "http://\(key.name).\(key.namespace).svc.cluster.local",
            uid: deployment.metadata.uid,
            creationTimestamp: deployment.metadata.creationTimestamp
        )
    }

    static func reason(_ condition: Condition?, current: Bool) -> String {
        guard let condition else { return "no status reported yet" }
        if condition.status == "True", !current { return "the controller has not observed the latest generation yet" }
        let text = [condition.reason, condition.message].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        return text.isEmpty ? "\(condition.type) is \(condition.status)" : text
    }

    /// Whether a Deployment belongs to a Knative revision rather than being a Direktiv function.
    public static func isKnativeRevision(_ labels: [String: String]?) -> Bool {
        labels?["serving.knative.dev/service"] != nil || labels?["serving.knative.dev/revision"] != nil
    }
}
