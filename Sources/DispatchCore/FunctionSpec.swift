import KubeModels

/// A function to create through the agent's own API (`POST /v1/functions`): what Direktiv's
/// function definition carries.
public struct FunctionSpec: Sendable, Hashable, Codable {
    /// The Direktiv namespace the function belongs to (placement rules match on it).
    public var namespace: String
    /// The Knative Service's name: a DNS-1035 label of at most 63 characters.
    public var name: String
    public var image: String
    /// The container's command, split on whitespace as Direktiv does.
    public var cmd: String?
    public var size: FunctionSize?
    public var minScale: Int?
    public var envs: [String: String]?

    public init(
        namespace: String, name: String, image: String, cmd: String? = nil, size: FunctionSize? = nil, minScale: Int? = nil,
        envs: [String: String]? = nil
    ) {
        self.namespace = namespace
        self.name = name
        self.image = image
        self.cmd = cmd
        self.size = size
        self.minScale = minScale
        self.envs = envs
    }
}

/// Why a `FunctionSpec` cannot become a Knative Service.
public struct FunctionSpecError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public var description: String { "\(field): \(reason)" }
}

/// Builds Knative Services the way Direktiv does (DESIGN.md §2): `direktiv-container` with the
/// user's image and the size's resources, `direktiv-sidecar` on port 8890 when a sidecar image
/// is configured, `affinity: {}`, cluster-local visibility, and the Direktiv namespace recorded
/// in labels and in the `dispatch.direktiv.io/namespace` annotation.
public enum DirektivServiceBuilder {
    /// Marks workloads the agent created, so its DELETE never touches Direktiv's own.
    public static let managedByLabel = "app.kubernetes.io/managed-by"
    public static let managedByValue = "direktiv-dispatch"
    public static let sidecarPort = 8890

    public static func validate(_ spec: FunctionSpec) throws(FunctionSpecError) {
        guard !spec.name.isEmpty, spec.name.count <= 63, KubernetesNames.isDNS1035Label(spec.name) else {
            throw FunctionSpecError(
                field: "name",
                reason: "\"\(spec.name)\" is not a DNS-1035 label (lower-case letters, digits and '-', starting with a letter, at most 63 characters)"
            )
        }
        guard !spec.namespace.isEmpty, KubernetesNames.isLabelValue(spec.namespace) else {
            throw FunctionSpecError(field: "namespace", reason: "\"\(spec.namespace)\" is not a valid Direktiv namespace name")
        }
        guard !spec.image.trimmingWhitespace.isEmpty, !spec.image.contains(where: \.isWhitespace) else {
            throw FunctionSpecError(field: "image", reason: "an image reference without spaces is required")
        }
        if let minScale = spec.minScale, !(0...100).contains(minScale) {
            throw FunctionSpecError(field: "minScale", reason: "\(minScale) is outside 0...100")
        }
        for name in (spec.envs ?? [:]).keys where !isEnvironmentName(name) {
            throw FunctionSpecError(field: "envs", reason: "\"\(name)\" is not a valid environment variable name")
        }
    }

    /// The Knative Service for `spec` in Kubernetes namespace `namespace`.
    public static func knativeService(
        _ spec: FunctionSpec, namespace: String, sizes: SizeTable, sidecarImage: String?
    ) throws(FunctionSpecError) -> JSONValue {
        try validate(spec)
        let size = spec.size ?? .medium
        let resources = sizes[size]
        var env: [JSONValue] = (spec.envs ?? [:]).keys.sorted().map { ["name": .string($0), "value": .string(spec.envs![$0]!)] }
        env.append(["name": "DIREKTIV_APP", "value": "sidecar"])
        var limits: [String: JSONValue] = [:]
        if let limit = resources.limits {
            limits = ["cpu": .string(cpuQuantity(limit.milliCPU)), "memory": .string(memoryQuantity(limit.memoryBytes))]
        }
        var container: [String: JSONValue] = [
            "name": "direktiv-container",
            "image": .string(spec.image),
            "env": .array(env),
            "resources": [
                "requests": [
                    "cpu": .string(cpuQuantity(resources.requests.milliCPU)), "memory": .string(memoryQuantity(resources.requests.memoryBytes)),
                ],
                "limits": .object(limits),
            ],
            "volumeMounts": [["name": "workdir", "mountPath": "/mnt/shared"]],
        ]
        let command = (spec.cmd ?? "").split(whereSeparator: \.isWhitespace).map { JSONValue.string(String($0)) }
        if !command.isEmpty { container["command"] = .array(command) }
        var containers: [JSONValue] = [.object(container)]
        if let sidecarImage {
            containers.append([
                "name": "direktiv-sidecar",
                "image": .string(sidecarImage),
                "env": [["name": "DIREKTIV_APP", "value": "sidecar"]],
                "ports": [["containerPort": .integer(Int64(sidecarPort))]],
                "volumeMounts": [["name": "workdir", "mountPath": "/mnt/shared"]],
            ])
        }
        return [
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": [
                "name": .string(spec.name),
                "namespace": .string(namespace),
                "labels": [
                    "networking.knative.dev/visibility": "cluster-local",
                    "direktiv.io/namespace-name": .string(spec.namespace),
                    "direktiv.io/name": .string(spec.name),
                    "direktiv.io/scope": "namespace",
                    managedByLabel: .string(managedByValue),
                ],
                "annotations": [
                    FunctionIdentity.namespaceAnnotation: .string(spec.namespace),
                    "direktiv.io/size": .string(size.rawValue),
                ],
            ],
            "spec": [
                "template": [
                    "metadata": [
                        "labels": ["direktiv-app": "direktiv"],
                        "annotations": ["autoscaling.knative.dev/minScale": .string(String(spec.minScale ?? 0))],
                    ],
                    "spec": [
                        "containers": .array(containers),
                        "volumes": [["name": "workdir", "emptyDir": [:]]],
                        "affinity": [:],
                    ],
                ]
            ],
        ]
    }

    static func cpuQuantity(_ milliCPU: Int64) -> String {
        milliCPU % 1000 == 0 ? String(milliCPU / 1000) : "\(milliCPU)m"
    }

    static func memoryQuantity(_ bytes: Int64) -> String {
        bytes % 1_000_000 == 0 ? "\(bytes / 1_000_000)M" : String(bytes)
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }
}

extension String {
    var trimmingWhitespace: Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
        return self[start..<max(start, end)]
    }
}
