import KubeModels

/// An immutable snapshot of the clusters visible from the main cluster: their nodes, capacity
/// and health, keyed by the value of the cluster label.
public struct ClusterInventory: Sendable {
    /// The node label whose value names a node's cluster.
    public let clusterLabel: String
    /// Every cluster, sorted by name.
    public let clusters: [ClusterState]
    /// Nodes without the cluster label; they take no part in placement.
    public let unassignedNodes: [String]
    /// For each function with bound pods, the clusters those pods run on.
    public let functionClusters: [FunctionKey: Set<String>]
    /// Pods skipped because their resource requests could not be read.
    public let unreadablePods: Int

    private let indexByName: [String: Int]
    /// Changes when the set of cluster names does; lets callers cache what depends on the names.
    public let clusterNamesDigest: Int

    public init(
        clusterLabel: String,
        clusters: [ClusterState],
        unassignedNodes: [String] = [],
        functionClusters: [FunctionKey: Set<String>] = [:],
        unreadablePods: Int = 0
    ) {
        self.clusterLabel = clusterLabel
        self.clusters = clusters.sorted { $0.name < $1.name }
        self.unassignedNodes = unassignedNodes
        self.functionClusters = functionClusters
        self.unreadablePods = unreadablePods
        var index: [String: Int] = [:]
        var hasher = Hasher()
        for (position, cluster) in self.clusters.enumerated() {
            index[cluster.name] = position
            hasher.combine(cluster.name)
        }
        self.indexByName = index
        self.clusterNamesDigest = hasher.finalize()
    }

    /// An inventory with no clusters.
    public static func empty(clusterLabel: String = Rules.defaultClusterLabel) -> ClusterInventory {
        ClusterInventory(clusterLabel: clusterLabel, clusters: [])
    }

    public func cluster(named name: String) -> ClusterState? {
        indexByName[name].map { clusters[$0] }
    }

    func index(of name: String) -> Int? {
        indexByName[name]
    }
}

/// One cluster: its nodes, capacity, and whether functions can be placed on it.
///
/// A class because it is immutable and read for every cluster in every decision: passing it
/// around costs one reference count, not a copy of every field.
public final class ClusterState: Sendable {
    public let name: String
    public let nodes: [NodeState]
    /// CPU and memory over every node of the cluster.
    public let total: Capacity
    /// CPU and memory over the nodes that can take new pods (ready, schedulable, tolerated).
    public let schedulable: Capacity
    /// The most free CPU and the most free memory on any single schedulable node.
    public let largestNodeFree: Resources
    /// The free capacity of schedulable nodes that no other node beats in both CPU and memory;
    /// a pod fits the cluster exactly when one of these covers it.
    public let fitFrontier: [Resources]
    /// Why nodes of this cluster cannot take pods, one line per node with problems.
    public let problems: [String]
    /// Whether new functions can be placed here: at least one node takes new pods.
    public let isReady: Bool

    public init(name: String, nodes: [NodeState]) {
        self.name = name
        self.nodes = nodes.sorted { $0.name < $1.name }
        var total = Capacity.zero
        var schedulable = Capacity.zero
        var largest = Resources.zero
        for node in nodes {
            total += node.capacity
            if node.isSchedulable {
                schedulable += node.capacity
                largest = largest.componentMax(node.capacity.free)
            }
        }
        self.total = total
        self.schedulable = schedulable
        self.largestNodeFree = largest
        self.fitFrontier = Self.frontier(of: nodes.filter(\.isSchedulable).map(\.capacity.free))
        self.problems = self.nodes.filter { !$0.problems.isEmpty }.map { node in
            "node \(node.name): \(node.problems.map(\.description).joined(separator: ", "))"
        }
        self.isReady = nodes.contains(where: \.isSchedulable)
    }

    /// The Pareto-maximal points of `frees`: sorted by CPU descending, each with more memory than all before it.
    static func frontier(of frees: [Resources]) -> [Resources] {
        var result: [Resources] = []
        var bestMemory = Int64.min
        for free in frees.sorted(by: { ($0.milliCPU, $0.memoryBytes) > ($1.milliCPU, $1.memoryBytes) }) where free.memoryBytes > bestMemory {
            result.append(free)
            bestMemory = free.memoryBytes
        }
        return result
    }

    /// Whether every node is a Liqo virtual node.
    public var isVirtual: Bool { !nodes.isEmpty && nodes.allSatisfy(\.isVirtual) }

    /// Local, virtual (Liqo), or mixed.
    public var kind: Kind {
        if nodes.allSatisfy(\.isVirtual) { return .virtual }
        if nodes.contains(where: \.isVirtual) { return .mixed }
        return .local
    }

    public enum Kind: String, Sendable, Codable {
        case local, virtual, mixed
    }

    /// The Liqo remote cluster IDs of the virtual nodes.
    public var remoteClusterIDs: [String] {
        Array(Set(nodes.compactMap(\.remoteClusterID))).sorted()
    }

    /// Whether a pod with `request` fits on one schedulable node.
    public func fits(_ request: Resources) -> Bool {
        fitFrontier.contains { $0.covers(request) }
    }

    public var podCount: Int { nodes.reduce(0) { $0 + $1.podCount } }
}

/// Allocatable and requested CPU and memory.
public struct Capacity: Sendable, Hashable, Codable {
    public var allocatable: Resources
    public var requested: Resources

    public init(allocatable: Resources, requested: Resources) {
        self.allocatable = allocatable
        self.requested = requested
    }

    public static let zero = Capacity(allocatable: .zero, requested: .zero)

    /// Allocatable minus requested, never below zero.
    public var free: Resources {
        Resources(
            milliCPU: max(0, allocatable.milliCPU - requested.milliCPU),
            memoryBytes: max(0, allocatable.memoryBytes - requested.memoryBytes)
        )
    }

    public static func += (lhs: inout Capacity, rhs: Capacity) {
        lhs.allocatable += rhs.allocatable
        lhs.requested += rhs.requested
    }
}

/// One node as placement sees it.
public struct NodeState: Sendable, Hashable {
    public let name: String
    public let isVirtual: Bool
    public let remoteClusterID: String?
    public let capacity: Capacity
    public let podCount: Int
    /// Why the node cannot take new pods; empty when it can.
    public let problems: [NodeProblem]

    public init(name: String, isVirtual: Bool, remoteClusterID: String? = nil, capacity: Capacity, podCount: Int = 0, problems: [NodeProblem] = []) {
        self.name = name
        self.isVirtual = isVirtual
        self.remoteClusterID = remoteClusterID
        self.capacity = capacity
        self.podCount = podCount
        self.problems = problems
    }

    public var isSchedulable: Bool { problems.isEmpty }
}

/// A reason a node cannot take new pods.
public enum NodeProblem: Sendable, Hashable, CustomStringConvertible {
    /// The `Ready` condition is not `True`; the reason is the condition's.
    case notReady(String?)
    case networkUnavailable
    case cordoned
    case zeroAllocatable
    /// A `NoSchedule`/`NoExecute` taint function pods do not tolerate.
    case untoleratedTaint(String)

    public var description: String {
        switch self {
        case .notReady(let reason): reason.map { "NotReady (\($0))" } ?? "NotReady"
        case .networkUnavailable: "NetworkUnavailable"
        case .cordoned: "cordoned"
        case .zeroAllocatable: "zero allocatable"
        case .untoleratedTaint(let taint): "untolerated taint \(taint)"
        }
    }
}
