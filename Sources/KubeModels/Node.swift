/// A Kubernetes `v1` Node: labels, schedulability, taints, allocatable and conditions.
public struct Node: KubeObject, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?

    public init(metadata: ObjectMeta, spec: Spec? = nil, status: Status? = nil) {
        self.apiVersion = "v1"
        self.kind = "Node"
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public struct Spec: Sendable, Hashable, Codable {
        public var unschedulable: Bool?
        public var taints: [Taint]?

        public init(unschedulable: Bool? = nil, taints: [Taint]? = nil) {
            self.unschedulable = unschedulable
            self.taints = taints
        }
    }

    public struct Taint: Sendable, Hashable, Codable {
        public var key: String
        public var value: String?
        public var effect: String

        public init(key: String, value: String? = nil, effect: String) {
            self.key = key
            self.value = value
            self.effect = effect
        }
    }

    public struct Status: Sendable, Hashable, Codable {
        public var capacity: [String: Quantity]?
        public var allocatable: [String: Quantity]?
        public var conditions: [Condition]?

        public init(capacity: [String: Quantity]? = nil, allocatable: [String: Quantity]? = nil, conditions: [Condition]? = nil) {
            self.capacity = capacity
            self.allocatable = allocatable
            self.conditions = conditions
        }

        private enum CodingKeys: String, CodingKey { case capacity, allocatable, conditions }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            capacity = try container.decodeMapIfPresent(Quantity.self, forKey: .capacity)
            allocatable = try container.decodeMapIfPresent(Quantity.self, forKey: .allocatable)
            conditions = try container.decodeIfPresent([Condition].self, forKey: .conditions)
        }
    }
}

/// A status condition (`type`, `status`, `reason`, `message`), shared by Nodes, Pods and Knative objects.
public struct Condition: Sendable, Hashable, Codable {
    public var type: String
    public var status: String
    public var reason: String?
    public var message: String?
    public var lastTransitionTime: String?

    public init(type: String, status: String, reason: String? = nil, message: String? = nil, lastTransitionTime: String? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.lastTransitionTime = lastTransitionTime
    }
}

extension Array where Element == Condition {
    /// The condition of the given type, if reported.
    public func first(ofType type: String) -> Condition? {
        first { $0.type == type }
    }
}
