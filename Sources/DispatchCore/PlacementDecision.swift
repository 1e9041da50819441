import KubeModels

/// The result of placement: where the function goes, why, and how every cluster compared.
public struct PlacementDecision: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Hashable, Codable, CaseIterable {
        /// Placed on an eligible candidate.
        case placed
        /// No candidate was eligible; placed on the rule's fallback cluster.
        case fallback
        /// No candidate was eligible and the rule says reject.
        case rejected
        /// Admitted without placement (no eligible candidate with `admit-unplaced`, or no namespace or rule).
        case unplaced
        /// An earlier placement stays: its cluster is still healthy and allowed.
        case kept

        /// Whether the function gets a cluster.
        public var hasCluster: Bool { self == .placed || self == .fallback || self == .kept }
    }

    public var outcome: Outcome
    /// The chosen cluster for `placed`, `fallback` and `kept`.
    public var cluster: String?
    /// One sentence saying why.
    public var summary: String
    public var direktivNamespace: String?
    public var requestPerPod: Resources
    public var replicas: Int
    /// The rule that matched the namespace, if any.
    public var rule: MatchedRule?
    /// The override that applied, if any.
    public var override: NamespaceOverride?
    /// One row per cluster, by name, then rows for candidates not in the inventory.
    public var rows: [ClusterEvaluation]
    /// Things the caller should pass on (admission warnings).
    public var warnings: [String]

    public init(
        outcome: Outcome,
        cluster: String?,
        summary: String,
        direktivNamespace: String?,
        requestPerPod: Resources,
        replicas: Int,
        rule: MatchedRule?,
        override: NamespaceOverride?,
        rows: [ClusterEvaluation],
        warnings: [String]
    ) {
        self.outcome = outcome
        self.cluster = cluster
        self.summary = summary
        self.direktivNamespace = direktivNamespace
        self.requestPerPod = requestPerPod
        self.replicas = replicas
        self.rule = rule
        self.override = override
        self.rows = rows
        self.warnings = warnings
    }

    /// The row for a cluster.
    public func row(for cluster: String) -> ClusterEvaluation? {
        rows.first { $0.cluster == cluster }
    }

    /// Candidates in the order they were considered, then the other clusters by name.
    public var rowsByConsideration: [ClusterEvaluation] {
        rows.filter(\.isCandidate).sorted { ($0.candidateRank ?? 0) < ($1.candidateRank ?? 0) } + rows.filter { !$0.isCandidate }
    }
}

/// The rule that matched, as shown in explanations.
public struct MatchedRule: Sendable, Hashable, Codable {
    /// Position in `namespaces`.
    public var index: Int
    public var match: String
    public var clusters: [String]
    public var strategy: PlacementStrategy
    public var onNoFit: String

    public init(index: Int, rule: NamespaceRule) {
        self.index = index
        self.match = rule.match.text
        self.clusters = rule.clusters.map(\.description)
        self.strategy = rule.strategy
        self.onNoFit = rule.onNoFit.description
    }
}

/// How one cluster fared in a decision.
public struct ClusterEvaluation: Sendable, Hashable {
    public var cluster: String
    /// Whether the rule or override made it a candidate.
    public var isCandidate: Bool
    public var isEligible: Bool
    public var isChosen: Bool
    /// Free CPU and memory on schedulable nodes, less open reservations.
    public var freeBefore: Resources
    /// `freeBefore` less this function's request, for candidates.
    public var freeAfter: Resources?
    /// The least-loaded score: the smaller of free CPU and free memory after placing, relative to allocatable.
    public var score: Double?
    /// The order in which candidates were considered (0 first); `nil` for other clusters.
    public var candidateRank: Int?
    /// The round trip to the cluster placement used, with its source and age; nil when unknown.
    public var latency: LatencyEstimate?
    var blockers: Blockers
    var healthProblems: [String]
    var largestNodeFree: Resources
    var requestNeeded: Resources
    var writtenReasons: [String]?

    /// Why a cluster was not eligible, as flags so that a decision over many clusters stays cheap;
    /// ``reasons`` renders them.
    struct Blockers: OptionSet, Sendable, Hashable {
        let rawValue: UInt8
        static let notCandidate = Blockers(rawValue: 1 << 0)
        static let excluded = Blockers(rawValue: 1 << 1)
        static let unknown = Blockers(rawValue: 1 << 2)
        static let notReady = Blockers(rawValue: 1 << 3)
        static let doesNotFit = Blockers(rawValue: 1 << 4)
        static let notPinned = Blockers(rawValue: 1 << 5)
    }

    init(
        cluster: String, isCandidate: Bool, freeBefore: Resources, blockers: Blockers, healthProblems: [String], largestNodeFree: Resources,
        requestNeeded: Resources, latency: LatencyEstimate? = nil
    ) {
        self.latency = latency
        self.cluster = cluster
        self.isCandidate = isCandidate
        self.isEligible = blockers.isEmpty
        self.isChosen = false
        self.freeBefore = freeBefore
        self.blockers = blockers
        self.healthProblems = healthProblems
        self.largestNodeFree = largestNodeFree
        self.requestNeeded = requestNeeded
    }

    /// Why the cluster is not eligible; empty when it is.
    public var reasons: [String] {
        if let writtenReasons { return writtenReasons }
        var result: [String] = []
        if blockers.contains(.unknown) { result.append("unknown cluster: no node carries this cluster label value") }
        if blockers.contains(.notPinned) { result.append("not the pinned cluster") }
        if blockers.contains(.notCandidate) { result.append("not a candidate of the matched rule") }
        if blockers.contains(.excluded) { result.append("excluded by override") }
        if blockers.contains(.notReady) {
            result.append(healthProblems.isEmpty ? "not ready" : "not ready: " + healthProblems.joined(separator: "; "))
        }
        if blockers.contains(.doesNotFit) {
            result.append("does not fit: needs \(requestNeeded) on one node, largest free is \(largestNodeFree)")
        }
        return result
    }
}

extension ClusterEvaluation: Codable {
    private enum CodingKeys: String, CodingKey {
        case cluster, candidate, candidateRank, eligible, chosen, reasons, freeBefore, freeAfter, score, latency
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(cluster, forKey: .cluster)
        try container.encode(isCandidate, forKey: .candidate)
        try container.encodeIfPresent(candidateRank, forKey: .candidateRank)
        try container.encode(isEligible, forKey: .eligible)
        try container.encode(isChosen, forKey: .chosen)
        try container.encode(reasons, forKey: .reasons)
        try container.encode(freeBefore, forKey: .freeBefore)
        try container.encodeIfPresent(freeAfter, forKey: .freeAfter)
        try container.encodeIfPresent(score, forKey: .score)
        try container.encodeIfPresent(latency, forKey: .latency)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        cluster = try container.decode(String.self, forKey: .cluster)
        isCandidate = try container.decode(Bool.self, forKey: .candidate)
        candidateRank = try container.decodeIfPresent(Int.self, forKey: .candidateRank)
        isEligible = try container.decode(Bool.self, forKey: .eligible)
        isChosen = try container.decodeIfPresent(Bool.self, forKey: .chosen) ?? false
        writtenReasons = try container.decodeIfPresent([String].self, forKey: .reasons) ?? []
        freeBefore = try container.decode(Resources.self, forKey: .freeBefore)
        freeAfter = try container.decodeIfPresent(Resources.self, forKey: .freeAfter)
        score = try container.decodeIfPresent(Double.self, forKey: .score)
        latency = try container.decodeIfPresent(LatencyEstimate.self, forKey: .latency)
        blockers = []
        healthProblems = []
        largestNodeFree = .zero
        requestNeeded = .zero
    }
}
