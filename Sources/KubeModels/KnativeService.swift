/// A Knative `serving.knative.dev/v1` Service: metadata, the pod template and the status the
/// agent reads. The spec is kept as raw JSON so that nothing the agent does not model is lost.
public struct KnativeService: KubeObject, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: Status?

    public init(metadata: ObjectMeta, spec: JSONValue? = nil, status: Status? = nil) {
        self.apiVersion = "serving.knative.dev/v1"
        self.kind = "Service"
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public struct Status: Sendable, Hashable, Codable {
        public var observedGeneration: Int64?
        public var conditions: [Condition]?
        public var url: String?
        public var address: Address?
        public var latestCreatedRevisionName: String?
        public var latestReadyRevisionName: String?

        public init(observedGeneration: Int64? = nil, conditions: [Condition]? = nil, url: String? = nil, address: Address? = nil) {
            self.observedGeneration = observedGeneration
            self.conditions = conditions
            self.url = url
            self.address = address
        }
    }

    public struct Address: Sendable, Hashable, Codable {
        public var url: String?

        public init(url: String?) {
            self.url = url
        }
    }

    /// Ready as Knative defines it: `Ready=True` for the current generation.
    public var isReady: Bool {
        guard let status, status.conditions?.first(ofType: "Ready")?.status == "True" else { return false }
        return status.observedGeneration == metadata.generation
    }
}

/// An `apps/v1` Deployment: metadata, raw spec, and the replica counts of its status.
public struct Deployment: KubeObject, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: Status?

    public init(metadata: ObjectMeta, spec: JSONValue? = nil, status: Status? = nil) {
        self.apiVersion = "apps/v1"
        self.kind = "Deployment"
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public struct Status: Sendable, Hashable, Codable {
        public var observedGeneration: Int64?
        public var replicas: Int?
        public var readyReplicas: Int?
        public var availableReplicas: Int?
        public var conditions: [Condition]?

        public init(
            observedGeneration: Int64? = nil, replicas: Int? = nil, readyReplicas: Int? = nil, availableReplicas: Int? = nil,
            conditions: [Condition]? = nil
        ) {
            self.observedGeneration = observedGeneration
            self.replicas = replicas
            self.readyReplicas = readyReplicas
            self.availableReplicas = availableReplicas
            self.conditions = conditions
        }
    }

    /// Available as Kubernetes defines it: the `Available` condition is `True` for the current generation.
    public var isReady: Bool {
        guard let status, status.conditions?.first(ofType: "Available")?.status == "True" else { return false }
        return status.observedGeneration == metadata.generation
    }
}
