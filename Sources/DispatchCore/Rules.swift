import KubeModels

/// The placement rules: how clusters are named, where Direktiv's functions live, and which
/// cluster each Direktiv namespace's functions may run on.
///
/// Read from YAML with ``RulesParser``; `docs/rules.md` documents every key.
public struct Rules: Sendable, Hashable {
    /// The node label whose value names a node's cluster.
    public var clusterLabel: String
    /// Kubernetes namespaces that hold Direktiv functions; the webhook ignores all others.
    public var functionsNamespaces: [String]
    /// Known Direktiv namespace names, used to read the namespace out of 0.8.1+ function IDs.
    public var direktivNamespaces: [String]
    /// Ordered rules; the first whose pattern matches a Direktiv namespace decides.
    public var namespaces: [NamespaceRule]
    /// Resource requests (and limits) per Direktiv function size.
    public var sizes: SizeTable
    /// How Liqo virtual nodes are tolerated.
    public var liqo: LiqoSettings
    /// How long a placement keeps its request reserved while its pods are not yet visible.
    public var reservationTimeoutSeconds: Int
    /// How long a FunctionPlacement outlives its workload (so that Direktiv's delete-and-recreate
    /// keeps the cluster), or waits for a workload that never appears, before the leader deletes it.
    public var placementRetentionSeconds: Int
    /// When functions leave a cluster that can no longer run them (rules key `failover`).
    public var failover: FailoverSettings
    /// Latencies that tie under `lowest-latency` (rules key `latencyTolerance`).
    public var latencyTolerance: LatencyTolerance

    public init(
        clusterLabel: String = Rules.defaultClusterLabel,
        functionsNamespaces: [String] = [Rules.defaultFunctionsNamespace],
        direktivNamespaces: [String] = [],
        namespaces: [NamespaceRule] = Rules.defaultNamespaceRules,
        sizes: SizeTable = .direktivDefaults,
        liqo: LiqoSettings = LiqoSettings(),
        reservationTimeoutSeconds: Int = 120,
        placementRetentionSeconds: Int = 900,
        failover: FailoverSettings = FailoverSettings(),
        latencyTolerance: LatencyTolerance = LatencyTolerance()
    ) {
        self.latencyTolerance = latencyTolerance
        self.clusterLabel = clusterLabel
        self.functionsNamespaces = functionsNamespaces
        self.direktivNamespaces = direktivNamespaces
        self.namespaces = namespaces
        self.sizes = sizes
        self.liqo = liqo
        self.reservationTimeoutSeconds = reservationTimeoutSeconds
        self.placementRetentionSeconds = placementRetentionSeconds
        self.failover = failover
    }

    public static let defaultClusterLabel = "direktiv.io/namespace"
    public static let defaultFunctionsNamespace = "direktiv-services-direktiv"

    /// Without rules, each Direktiv namespace runs on the cluster named like it, and functions
    /// whose namespace has no such cluster are admitted unplaced (the seed setup's behaviour).
    public static let defaultNamespaceRules: [NamespaceRule] = [
        NamespaceRule(match: try! NamespacePattern("*"), clusters: [.direktivNamespace], strategy: .leastLoaded, onNoFit: .admitUnplaced)
    ]

    /// The failover settings for a Direktiv namespace: the global ones with its rule's block over
    /// them (the catch-all rule's when the namespace is unknown, as that rule places it); the
    /// global ones when no rule matches.
    public func failover(for direktivNamespace: String?) -> FailoverSettings {
        let matched = direktivNamespace.map { rule(for: $0) } ?? catchAllRule
        return failover.applying(matched?.rule.failover)
    }

    /// The first rule whose pattern matches every name: it places functions whose Direktiv
    /// namespace cannot be read.
    public var catchAllRule: (index: Int, rule: NamespaceRule)? {
        for (index, rule) in namespaces.enumerated() where rule.match.matchesEverything {
            return (index, rule)
        }
        return nil
    }

    /// The first rule matching `direktivNamespace`, with its position.
    public func rule(for direktivNamespace: String) -> (index: Int, rule: NamespaceRule)? {
        for (index, rule) in namespaces.enumerated() where rule.match.matches(direktivNamespace) {
            return (index, rule)
        }
        return nil
    }
}

/// One entry of `namespaces`: which clusters the matching Direktiv namespaces may use and how to choose.
public struct NamespaceRule: Sendable, Hashable {
    public var match: NamespacePattern
    public var clusters: [ClusterReference]
    public var strategy: PlacementStrategy
    public var onNoFit: NoFitPolicy
    /// The rule's own `failover` block, over the global one.
    public var failover: FailoverOverride?

    public init(
        match: NamespacePattern, clusters: [ClusterReference], strategy: PlacementStrategy = .leastLoaded, onNoFit: NoFitPolicy = .reject,
        failover: FailoverOverride? = nil
    ) {
        self.match = match
        self.clusters = clusters
        self.strategy = strategy
        self.onNoFit = onNoFit
        self.failover = failover
    }
}

/// A candidate in a rule's `clusters` list.
public enum ClusterReference: Sendable, Hashable, CustomStringConvertible {
    /// A cluster by name (the value of the cluster label).
    case named(String)
    /// `{namespace}`: the cluster named like the Direktiv namespace.
    case direktivNamespace
    /// `*`: every cluster in the inventory, by name.
    case all

    public var description: String {
        switch self {
        case .named(let name): name
        case .direktivNamespace: "{namespace}"
        case .all: "*"
        }
    }
}

/// How a rule chooses among its eligible candidates.
public enum PlacementStrategy: String, Sendable, Hashable, Codable, CaseIterable {
    /// The candidate with the most free capacity, relative to its allocatable, after placing.
    case leastLoaded = "least-loaded"
    /// The first eligible candidate in the rule's order.
    case ordered
    /// The candidate with the lowest round trip from the main cluster (``ClusterLatency``);
    /// candidates within ``Rules/latencyTolerance`` of it go to the least loaded.
    case lowestLatency = "lowest-latency"
}

/// How close two latencies must be to count as the same for `lowest-latency`: within `percent`
/// of the lowest or `milliseconds`, whichever is larger (a few milliseconds of jitter must not
/// pile every function onto one cluster).
public struct LatencyTolerance: Sendable, Hashable {
    public var percent: Double
    public var milliseconds: Double

    public init(percent: Double = 20, milliseconds: Double = 5) {
        self.percent = percent
        self.milliseconds = milliseconds
    }

    /// The highest latency (seconds) that still ties with `lowest`.
    public func ceiling(over lowest: Double) -> Double {
        lowest + max(lowest * percent / 100, milliseconds / 1000)
    }
}

/// What to do when no candidate is eligible.
public enum NoFitPolicy: Sendable, Hashable, CustomStringConvertible {
    /// Refuse the function (the webhook answers `allowed: false` with the reasons).
    case reject
    /// Place on this cluster instead, if it is healthy.
    case fallback(String)
    /// Admit the function without any placement, with a warning.
    case admitUnplaced

    public var description: String {
        switch self {
        case .reject: "reject"
        case .fallback(let cluster): "fallback: \(cluster)"
        case .admitUnplaced: "admit-unplaced"
        }
    }
}

/// The Direktiv function sizes and the resources each stands for.
public struct SizeTable: Sendable, Hashable {
    public var small: SizeSpec
    public var medium: SizeSpec
    public var large: SizeSpec

    public init(small: SizeSpec, medium: SizeSpec, large: SizeSpec) {
        self.small = small
        self.medium = medium
        self.large = large
    }

    /// Direktiv's own defaults: every size requests 100m CPU and 64M memory; limits grow with the size.
    public static let direktivDefaults = SizeTable(
        small: SizeSpec(requests: Resources(milliCPU: 100, memoryBytes: 64_000_000), limits: Resources(milliCPU: 250, memoryBytes: 512_000_000)),
        medium: SizeSpec(requests: Resources(milliCPU: 100, memoryBytes: 64_000_000), limits: Resources(milliCPU: 500, memoryBytes: 1_024_000_000)),
        large: SizeSpec(requests: Resources(milliCPU: 100, memoryBytes: 64_000_000), limits: Resources(milliCPU: 1000, memoryBytes: 2_048_000_000))
    )

    public subscript(size: FunctionSize) -> SizeSpec {
        switch size {
        case .small: small
        case .medium: medium
        case .large: large
        }
    }
}

/// A Direktiv function size.
public enum FunctionSize: String, Sendable, Hashable, Codable, CaseIterable {
    case small, medium, large

    /// Reads Direktiv's `direktiv.io/size` annotation (`0`/`1`/`2`) or a size name.
    public init?(direktivValue value: String) {
        switch value.lowercased() {
        case "0", "small": self = .small
        case "1", "medium": self = .medium
        case "2", "large": self = .large
        default: return nil
        }
    }
}

/// The requests placement counts for a size, and the limits a created function gets.
public struct SizeSpec: Sendable, Hashable {
    public var requests: Resources
    public var limits: Resources?

    public init(requests: Resources, limits: Resources? = nil) {
        self.requests = requests
        self.limits = limits
    }
}

/// How pods are made to tolerate Liqo virtual nodes.
public struct LiqoSettings: Sendable, Hashable {
    /// Add a toleration for the virtual-node taint to placed pods when they lack one.
    public var addToleration: Bool
    /// The taint key Liqo puts on virtual nodes.
    public var taintKey: String

    public init(addToleration: Bool = true, taintKey: String = LiqoSettings.defaultTaintKey) {
        self.addToleration = addToleration
        self.taintKey = taintKey
    }

    public static let defaultTaintKey = "virtual-node.liqo.io/not-allowed"
}
