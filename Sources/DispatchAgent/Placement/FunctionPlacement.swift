import DispatchCore
import Foundation
import KubeModels

/// A `dispatch.direktiv.io/v1alpha1` FunctionPlacement: where the agent decided one function
/// workload runs, and why, as an API object every replica reads.
///
/// One object per Knative Service or Deployment, in the workload's namespace and with its name.
/// It outlives the workload on purpose: Direktiv 0.8.1+ deletes and recreates a function on every
/// change, and the recreation keeps the cluster written here. The leader deletes it once the
/// workload has been gone for `placementRetentionSeconds`.
public struct FunctionPlacement: KubeObject, Hashable {
    public static let group = "dispatch.direktiv.io"
    public static let version = "v1alpha1"
    public static let apiVersionString = "\(group)/\(version)"

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status?

    public init(metadata: ObjectMeta, spec: Spec, status: Status? = nil) {
        apiVersion = Self.apiVersionString
        kind = "FunctionPlacement"
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// The decision and what it takes to repeat or explain it.
    public struct Spec: Sendable, Hashable, Codable {
        public var workload: WorkloadReference
        public var direktivNamespace: String?
        /// The cluster decided; nil when the function was admitted unplaced.
        public var cluster: String?
        public var rule: Rule?
        public var override: NamespaceOverride?
        public var request: Request?

        public init(
            workload: WorkloadReference, direktivNamespace: String?, cluster: String?, rule: Rule? = nil, override: NamespaceOverride? = nil,
            request: Request? = nil
        ) {
            self.workload = workload
            self.direktivNamespace = direktivNamespace
            self.cluster = cluster
            self.rule = rule
            self.override = override
            self.request = request
        }
    }

    /// The workload placed, in the placement's own namespace.
    public struct WorkloadReference: Sendable, Hashable, Codable {
        public var apiVersion: String
        public var kind: String
        public var name: String

        public init(kind: WorkloadKind, name: String) {
            switch kind {
            case .knativeService: (apiVersion, self.kind) = ("serving.knative.dev/v1", "Service")
            case .deployment: (apiVersion, self.kind) = ("apps/v1", "Deployment")
            }
            self.name = name
        }

        public var workloadKind: WorkloadKind? {
            switch (apiVersion, kind) {
            case ("serving.knative.dev/v1", "Service"): .knativeService
            case ("apps/v1", "Deployment"): .deployment
            default: nil
            }
        }
    }

    /// The rule that decided, as the rules file writes it.
    public struct Rule: Sendable, Hashable, Codable {
        public var index: Int
        public var match: String
        public var clusters: [String]?
        public var strategy: String?
        public var onNoFit: String?

        public init(_ rule: MatchedRule) {
            index = rule.index
            match = rule.match
            clusters = rule.clusters
            strategy = rule.strategy.rawValue
            onNoFit = rule.onNoFit
        }
    }

    /// What each pod requests and how many start; reserved until the pods are visible.
    public struct Request: Sendable, Hashable, Codable {
        public var cpuMillis: Int64
        public var memoryBytes: Int64
        public var replicas: Int

        /// The largest values the definition's schema admits; a larger request is recorded at
        /// them (it fits no cluster anyway), so that its object can still be written.
        public static let maximum = (cpuMillis: Int64(1_000_000_000), memoryBytes: Int64(1_000_000_000_000_000_000), replicas: 100_000)

        public init(perPod: Resources, replicas: Int) {
            cpuMillis = min(max(0, perPod.milliCPU), Self.maximum.cpuMillis)
            memoryBytes = min(max(0, perPod.memoryBytes), Self.maximum.memoryBytes)
            self.replicas = min(max(0, replicas), Self.maximum.replicas)
        }

        public var perPod: Resources { Resources(milliCPU: max(0, cpuMillis), memoryBytes: max(0, memoryBytes)) }
    }

    public struct Status: Sendable, Hashable, Codable {
        /// `placed`, `kept`, `fallback` or `unplaced` (``PlacementDecision/Outcome``).
        public var outcome: String?
        /// The decision in one line.
        public var reason: String?
        public var decidedAt: String?
        /// The replica (pod) that decided.
        public var decidedBy: String?
        public var observedGeneration: Int64?
        /// The uid of the workload last seen with this name.
        public var workloadUID: String?
        /// Since when the leader has not seen the workload.
        public var workloadMissingSince: String?
        /// Since when the leader has seen `spec.cluster` unschedulable (the failover clock).
        public var clusterLostSince: String?
        /// The cluster the function failed over from, where failback returns it.
        public var failedOverFrom: String?
        /// Since when `failedOverFrom` has been schedulable again (the failback clock).
        public var originBackSince: String?
        public var conditions: [Condition]?

        public init(
            outcome: String? = nil, reason: String? = nil, decidedAt: String? = nil, decidedBy: String? = nil, observedGeneration: Int64? = nil,
            workloadUID: String? = nil, workloadMissingSince: String? = nil, conditions: [Condition]? = nil
        ) {
            self.outcome = outcome
            self.reason = reason
            self.decidedAt = decidedAt
            self.decidedBy = decidedBy
            self.observedGeneration = observedGeneration
            self.workloadUID = workloadUID
            self.workloadMissingSince = workloadMissingSince
            self.conditions = conditions
        }
    }

    /// Condition types the leader keeps.
    public enum ConditionType {
        /// The workload carries `spec.cluster` (its annotation and required node affinity).
        public static let affinityApplied = "AffinityApplied"
        /// The workload's pods run on `spec.cluster`.
        public static let podsOnCluster = "PodsOnCluster"
        /// Both: the workload is where the placement says.
        public static let ready = "Ready"
        /// Its cluster is lost and no cluster may take it now.
        public static let stranded = "Stranded"
    }

    /// Marks a placement whose request still counts against its cluster, so a replica can read
    /// the open reservations with one small list (a label selector) instead of every placement.
    public static let reservingLabel = "dispatch.direktiv.io/reserving"
    /// Until when the request counts at most (RFC 3339), even if the pods never show up.
    public static let reservedUntilAnnotation = "dispatch.direktiv.io/reserved-until"

    public var key: FunctionKey { FunctionKey(namespace: metadata.namespace ?? "", name: metadata.name ?? "") }

    public var outcome: PlacementDecision.Outcome? { status?.outcome.flatMap(PlacementDecision.Outcome.init(rawValue:)) }

    /// The condition of a type, if reported.
    public func condition(_ type: String) -> Condition? { status?.conditions?.first(ofType: type) }
}

extension FunctionPlacement {
    /// The object recording `decision` for `key` (a decision naming a cluster or admitting unplaced;
    /// rejections leave no object, as no workload follows them).
    ///
    /// - Parameters:
    ///   - reservedUntil: when the decision's request stops counting at the latest; nil: it reserves nothing.
    public init(
        decision: PlacementDecision, key: FunctionKey, kind: WorkloadKind, decidedAt: Date, decidedBy: String, reservedUntil: Date?
    ) {
        var labels: [String: String] = ["app.kubernetes.io/managed-by": "direktiv-dispatch"]
        var annotations: [String: String] = [:]
        if let reservedUntil {
            labels[Self.reservingLabel] = "true"
            annotations[Self.reservedUntilAnnotation] = Self.format(reservedUntil)
        }
        self.init(
            metadata: ObjectMeta(name: key.name, namespace: key.namespace, labels: labels, annotations: annotations.isEmpty ? nil : annotations),
            spec: Spec(
                workload: WorkloadReference(kind: kind, name: key.name), direktivNamespace: decision.direktivNamespace,
                cluster: decision.outcome.hasCluster ? decision.cluster : nil, rule: decision.rule.map(Rule.init), override: decision.override,
                request: Request(perPod: decision.requestPerPod, replicas: decision.replicas)),
            status: Status(outcome: decision.outcome.rawValue, reason: decision.summary, decidedAt: Self.format(decidedAt), decidedBy: decidedBy)
        )
    }

    /// Kubernetes' time format: RFC 3339 in UTC, whole seconds.
    public static func format(_ date: Date) -> String { date.formatted(.iso8601) }

    public static func parse(_ text: String?) -> Date? {
        guard let text else { return nil }
        return try? Date(text, strategy: .iso8601)
    }

    /// When the request stops counting at the latest, if it counts at all.
    public var reservedUntil: Date? {
        guard metadata.labels?[Self.reservingLabel] == "true" else { return nil }
        return Self.parse(metadata.annotations?[Self.reservedUntilAnnotation])
    }
}
