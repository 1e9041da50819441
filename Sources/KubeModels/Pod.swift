/// A Kubernetes `v1` Pod: what capacity accounting and placement need of it.
public struct Pod: KubeObject, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?

    public init(metadata: ObjectMeta, spec: Spec? = nil, status: Status? = nil) {
        self.apiVersion = "v1"
        self.kind = "Pod"
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public struct Spec: Sendable, Hashable, Codable {
        public var nodeName: String?
        public var containers: [Container]
        public var initContainers: [Container]?
        public var overhead: [String: Quantity]?

        public init(nodeName: String? = nil, containers: [Container], initContainers: [Container]? = nil, overhead: [String: Quantity]? = nil) {
            self.nodeName = nodeName
            self.containers = containers
            self.initContainers = initContainers
            self.overhead = overhead
        }

        private enum CodingKeys: String, CodingKey { case nodeName, containers, initContainers, overhead }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            nodeName = try container.decodeIfPresent(String.self, forKey: .nodeName)
            containers = try container.decodeIfPresent([Container].self, forKey: .containers) ?? []
            initContainers = try container.decodeIfPresent([Container].self, forKey: .initContainers)
            overhead = try container.decodeMapIfPresent(Quantity.self, forKey: .overhead)
        }
    }

    public struct Container: Sendable, Hashable, Codable {
        public var name: String
        public var resources: ResourceRequirements?
        /// `Always` on an init container makes it a sidecar that runs for the pod's lifetime.
        public var restartPolicy: String?

        public init(name: String, resources: ResourceRequirements? = nil, restartPolicy: String? = nil) {
            self.name = name
            self.resources = resources
            self.restartPolicy = restartPolicy
        }
    }

    public struct Status: Sendable, Hashable, Codable {
        public var phase: String?
        public var conditions: [Condition]?

        public init(phase: String? = nil, conditions: [Condition]? = nil) {
            self.phase = phase
            self.conditions = conditions
        }
    }
}

/// A container's `resources`.
public struct ResourceRequirements: Sendable, Hashable, Codable {
    public var requests: [String: Quantity]?
    public var limits: [String: Quantity]?

    public init(requests: [String: Quantity]? = nil, limits: [String: Quantity]? = nil) {
        self.requests = requests
        self.limits = limits
    }

    private enum CodingKeys: String, CodingKey { case requests, limits }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        requests = try container.decodeMapIfPresent(Quantity.self, forKey: .requests)
        limits = try container.decodeMapIfPresent(Quantity.self, forKey: .limits)
    }
}

extension Pod {
    /// Whether the pod has finished for good (`Succeeded` or `Failed`) and no longer holds resources.
    public var isTerminated: Bool {
        let phase = status?.phase
        return phase == "Succeeded" || phase == "Failed"
    }

    /// The CPU and memory the scheduler reserves for this pod.
    ///
    /// Follows Kubernetes' own accounting: the sum of the containers' requests plus the
    /// sidecars (init containers with `restartPolicy: Always`), or the largest need of any
    /// init container run (its request plus the sidecars started before it) when that is
    /// larger, plus the pod overhead.
    public func effectiveRequests() throws(QuantityError) -> Resources {
        guard let spec else { return .zero }
        // Same formula as the static form below, without intermediate arrays: this runs for every pod.
        var total = Resources.zero
        for container in spec.containers {
            total += try Resources(container.resources?.requests)
        }
        var sidecars = Resources.zero
        var largestInitNeed = Resources.zero
        for container in spec.initContainers ?? [] {
            let request = try Resources(container.resources?.requests)
            if container.restartPolicy == "Always" {
                total += request
                sidecars += request
                largestInitNeed = largestInitNeed.componentMax(sidecars)
            } else {
                largestInitNeed = largestInitNeed.componentMax(request + sidecars)
            }
        }
        return total.componentMax(largestInitNeed) + (try Resources(spec.overhead))
    }

    /// The Kubernetes pod-request formula on plain values; `initContainers` pairs each request with "is a sidecar".
    public static func effectiveRequests(
        containers: [Resources],
        initContainers: [(Resources, Bool)],
        overhead: Resources = .zero
    ) -> Resources {
        var total = containers.reduce(Resources.zero, +)
        var sidecars = Resources.zero
        var largestInitNeed = Resources.zero
        for (request, isSidecar) in initContainers {
            let need: Resources
            if isSidecar {
                total += request
                sidecars += request
                need = sidecars
            } else {
                need = request + sidecars
            }
            largestInitNeed = largestInitNeed.componentMax(need)
        }
        return total.componentMax(largestInitNeed) + overhead
    }
}
