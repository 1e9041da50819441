import KubeModels

/// The kinds of workload that run Direktiv functions.
public enum WorkloadKind: String, Sendable, Hashable, Codable {
    /// `serving.knative.dev/v1` Service (Direktiv up to 0.9).
    case knativeService = "KnativeService"
    /// `apps/v1` Deployment (Direktiv 0.10 and later).
    case deployment = "Deployment"
}

/// A function workload as placement needs it: who it belongs to and what it asks for.
public struct FunctionWorkload: Sendable, Hashable {
    public var kind: WorkloadKind
    public var identity: FunctionIdentity
    /// CPU and memory one pod requests.
    public var requestPerPod: Resources
    /// Where `requestPerPod` came from.
    public var requestSource: RequestSource
    /// Pods that start with the workload: Knative min-scale (at least 1) or Deployment replicas.
    public var replicas: Int
    /// The cluster recorded by an earlier placement (`dispatch.direktiv.io/cluster`), if any.
    public var placedCluster: String?

    public init(
        kind: WorkloadKind, identity: FunctionIdentity, requestPerPod: Resources, requestSource: RequestSource, replicas: Int,
        placedCluster: String? = nil
    ) {
        self.kind = kind
        self.identity = identity
        self.requestPerPod = requestPerPod
        self.requestSource = requestSource
        self.replicas = replicas
        self.placedCluster = placedCluster
    }

    public enum RequestSource: Sendable, Hashable, CustomStringConvertible {
        /// The pod template's container requests.
        case containers
        /// No container asks for anything: the size's requests from the rules.
        case size(FunctionSize)

        public var description: String {
            switch self {
            case .containers: "container requests"
            case .size(let size): "size \(size.rawValue)"
            }
        }
    }
}

/// Why a workload object could not be read.
public enum WorkloadError: Error, Sendable, Hashable, CustomStringConvertible {
    case notAnObject
    case missingName
    case invalidQuantity(container: String, detail: String)

    public var description: String {
        switch self {
        case .notAnObject: "the object is not a JSON object"
        case .missingName: "the object has no metadata.name"
        case .invalidQuantity(let container, let detail): "container \(container): \(detail)"
        }
    }
}

/// Reads Direktiv function workloads (Knative Services and Deployments) from their JSON.
public enum WorkloadReader {
    static let minScaleAnnotations = ["autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/minScale"]
    static let direktivScaleAnnotation = "direktiv.io/scale"
    static let direktivSizeAnnotation = "direktiv.io/size"

    /// Reads identity, request and replicas from a workload object.
    ///
    /// - Parameters:
    ///   - knownNamespaces: Direktiv namespace names to match 0.8.1+ service IDs against.
    ///   - sizes: requests per size, used when no container states any.
    ///   - namespace: the Kubernetes namespace when the object itself omits it (admission requests).
    public static func read(
        _ object: JSONValue,
        kind: WorkloadKind,
        knownNamespaces: [String],
        sizes: SizeTable,
        namespace: String? = nil
    ) throws(WorkloadError) -> FunctionWorkload {
        try read(object, kind: kind, namespaces: NamespaceResolver(names: knownNamespaces), sizes: sizes, namespace: namespace)
    }

    /// Reads a workload with a resolver built once for many objects.
    public static func read(
        _ object: JSONValue,
        kind: WorkloadKind,
        namespaces: NamespaceResolver,
        sizes: SizeTable,
        namespace: String? = nil
    ) throws(WorkloadError) -> FunctionWorkload {
        guard case .object = object else { throw .notAnObject }
        let metadata = object["metadata"]
        guard let name = metadata?["name"]?.stringValue ?? metadata?["generateName"]?.stringValue, !name.isEmpty else {
            throw .missingName
        }
        let key = FunctionKey(namespace: metadata?["namespace"]?.stringValue ?? namespace ?? "", name: name)
        let template = object[path: "spec", "template"]
        let podSpec = template?["spec"]
        let labels = metadata?["labels"]?.stringMap ?? [:]
        let annotations = metadata?["annotations"]?.stringMap ?? [:]
        let templateLabels = template?[path: "metadata", "labels"]?.stringMap ?? [:]
        let templateAnnotations = template?[path: "metadata", "annotations"]?.stringMap ?? [:]

        let identity = identify(
            key: key,
            kind: kind,
            labels: labels.merging(templateLabels) { object, _ in object },
            annotations: annotations,
            namespaces: namespaces
        )

        let (request, source) = try request(
            podSpec: podSpec, sizeHint: annotations[direktivSizeAnnotation] ?? templateAnnotations[direktivSizeAnnotation], sizes: sizes)

        let replicas: Int
        switch kind {
        case .knativeService:
            let minScale =
                (minScaleAnnotations + [direktivScaleAnnotation]).lazy
                .compactMap { templateAnnotations[$0] ?? annotations[$0] }
                .compactMap { Int($0) }
                .first ?? 0
            replicas = min(max(minScale, 1), NodePacking.maximumReplicas)
        case .deployment:
            // Mutating admission runs before validation: the count may be anything an int64 holds.
            replicas = min(max(Int(object[path: "spec", "replicas"]?.integerValue ?? 1), 1), NodePacking.maximumReplicas)
        }

        return FunctionWorkload(
            kind: kind,
            identity: identity,
            requestPerPod: request,
            requestSource: source,
            replicas: replicas,
            placedCluster: annotations[FunctionIdentity.clusterAnnotation]
        )
    }

    static func identify(
        key: FunctionKey,
        kind: WorkloadKind,
        labels: [String: String],
        annotations: [String: String],
        namespaces: NamespaceResolver
    ) -> FunctionIdentity {
        let functionName = labels[FunctionIdentity.functionNameLabel]
        if let explicit = annotations[FunctionIdentity.namespaceAnnotation], !explicit.isEmpty {
            return FunctionIdentity(key: key, direktivNamespace: explicit, function: functionName ?? key.name, source: .annotation)
        }
        if let namespace = labels[FunctionIdentity.namespaceNameLabel], !namespace.isEmpty {
            return FunctionIdentity(key: key, direktivNamespace: namespace, function: functionName ?? key.name, source: .direktivLabels)
        }
        if kind == .deployment, let id = labels[FunctionIdentity.deploymentServiceLabel],
            let resolved = namespaces.resolve(id)
        {
            return FunctionIdentity(
                key: key, direktivNamespace: resolved.namespace, function: resolved.remainder.isEmpty ? id : resolved.remainder,
                source: .deploymentLabel)
        }
        if let resolved = namespaces.resolve(key.name) {
            return FunctionIdentity(
                key: key, direktivNamespace: resolved.namespace, function: resolved.remainder.isEmpty ? key.name : resolved.remainder,
                source: .serviceID)
        }
        return FunctionIdentity(key: key, direktivNamespace: nil, function: functionName ?? key.name, source: .unresolved)
    }

    /// The per-pod request from the template's containers (requests, else limits, as Kubernetes
    /// defaults them), or the size's requests when no container asks for anything.
    static func request(podSpec: JSONValue?, sizeHint: String?, sizes: SizeTable) throws(WorkloadError) -> (Resources, FunctionWorkload.RequestSource)
    {
        func containerRequest(_ container: JSONValue) throws(WorkloadError) -> Resources {
            let name = container["name"]?.stringValue ?? "?"
            let resources = container["resources"]
            var result = Resources.zero
            for (resource, milli) in [("cpu", true), ("memory", false)] {
                guard let text = resources?[path: "requests", resource] ?? resources?[path: "limits", resource] else { continue }
                let string = text.stringValue ?? text.integerValue.map(String.init) ?? ""
                do {
                    let quantity = try Quantity(parsing: string)
                    guard !quantity.isNegative else { throw QuantityError.invalid(string) }
                    if milli { result.milliCPU = try quantity.milliValue() } else { result.memoryBytes = try quantity.value() }
                } catch {
                    throw .invalidQuantity(container: name, detail: "\(resource): \(error)")
                }
            }
            return result
        }

        var containers: [Resources] = []
        for container in podSpec?["containers"]?.arrayValue ?? [] { containers.append(try containerRequest(container)) }
        var initContainers: [(Resources, Bool)] = []
        for container in podSpec?["initContainers"]?.arrayValue ?? [] {
            initContainers.append((try containerRequest(container), container["restartPolicy"]?.stringValue == "Always"))
        }
        let total = Pod.effectiveRequests(containers: containers, initContainers: initContainers)
        if !total.isZero { return (total, .containers) }
        let size = sizeHint.flatMap(FunctionSize.init(direktivValue:)) ?? .small
        return (sizes[size].requests, .size(size))
    }
}
