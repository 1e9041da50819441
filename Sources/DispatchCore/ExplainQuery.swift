import KubeModels

/// What `POST /v1/placements/explain` asks: a Direktiv namespace and a request, by size or by
/// resources.
public struct ExplainQuery: Sendable, Hashable {
    public var namespace: String
    public var requestPerPod: Resources
    public var replicas: Int

    public struct DecodingError: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// `{"namespace": "team-a", "size": "medium"}` or
    /// `{"namespace": "team-a", "resources": {"cpu": "500m", "memory": "1Gi"}, "replicas": 2}`.
    public init(json: JSONValue, sizes: SizeTable) throws(DecodingError) {
        guard case .object(let members) = json else { throw DecodingError(description: "expected a JSON object") }
        for key in members.keys.sorted() where !["namespace", "size", "resources", "replicas"].contains(key) {
            throw DecodingError(description: "unknown key \"\(key)\" (allowed: namespace, size, resources, replicas)")
        }
        guard let namespace = members["namespace"]?.stringValue, !namespace.isEmpty else {
            throw DecodingError(description: "\"namespace\" (the Direktiv namespace) is required")
        }
        self.namespace = namespace
        switch (members["size"], members["resources"]) {
        case (.some(let size), nil):
            guard let name = size.stringValue, let parsed = FunctionSize(rawValue: name) else {
                throw DecodingError(description: "\"size\" must be small, medium or large")
            }
            requestPerPod = sizes[parsed].requests
        case (nil, .some(.object(let resources))):
            for key in resources.keys.sorted() where !["cpu", "memory"].contains(key) {
                throw DecodingError(description: "resources: unknown key \"\(key)\" (allowed: cpu, memory)")
            }
            requestPerPod = Resources(
                milliCPU: try Self.quantity(resources["cpu"], "cpu", milli: true),
                memoryBytes: try Self.quantity(resources["memory"], "memory", milli: false)
            )
        case (.some, .some):
            throw DecodingError(description: "give either \"size\" or \"resources\", not both")
        default:
            throw DecodingError(description: "give \"size\" (small, medium, large) or \"resources\" {\"cpu\", \"memory\"}")
        }
        if let replicas = members["replicas"] {
            guard let count = replicas.integerValue, (1...1000).contains(count) else {
                throw DecodingError(description: "\"replicas\" must be a whole number from 1 to 1000")
            }
            self.replicas = Int(count)
        } else {
            replicas = 1
        }
    }

    static func quantity(_ value: JSONValue?, _ name: String, milli: Bool) throws(DecodingError) -> Int64 {
        guard let value else { return 0 }
        guard let text = value.stringValue ?? value.integerValue.map(String.init) else {
            throw DecodingError(description: "resources.\(name) must be a Kubernetes quantity such as \(milli ? "500m" : "1Gi")")
        }
        do {
            let quantity = try Quantity(parsing: text)
            if quantity.isNegative { throw DecodingError(description: "resources.\(name) must not be negative") }
            return milli ? try quantity.milliValue() : try quantity.value()
        } catch let error as DecodingError {
            throw error
        } catch {
            throw DecodingError(description: "resources.\(name): \(error)")
        }
    }

    public var placementRequest: PlacementRequest {
        PlacementRequest(direktivNamespace: namespace, requestPerPod: requestPerPod, replicas: replicas)
    }
}
