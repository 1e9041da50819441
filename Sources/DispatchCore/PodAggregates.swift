import KubeModels

/// Per-node sums of the pods' requests, kept up to date one pod at a time.
///
/// The live inventory adds and removes pods as watch events arrive, so a change costs one pod,
/// not a pass over all of them; a snapshot is then built from the nodes and these sums.
public struct PodAggregates: Sendable, Hashable {
    public private(set) var requestedByNode: [String: Resources] = [:]
    public private(set) var podsByNode: [String: Int] = [:]
    /// For each function, how many of its pods run on each node.
    public private(set) var functionNodes: [FunctionKey: [String: Int]] = [:]
    /// Counted pods whose requests could not be read.
    public private(set) var unreadablePods = 0

    public init() {}

    /// Aggregates a whole set of pods.
    public init(_ pods: some Sequence<PodUsage>) {
        for pod in pods { add(pod) }
    }

    /// Whether a pod holds resources on a node: bound and not finished.
    static func counts(_ pod: PodUsage) -> Bool {
        !pod.isTerminated && pod.nodeName != nil
    }

    public mutating func add(_ pod: PodUsage) {
        guard Self.counts(pod), let node = pod.nodeName else { return }
        guard let requests = pod.requests else {
            unreadablePods += 1
            return
        }
        requestedByNode[node, default: .zero] += requests
        podsByNode[node, default: 0] += 1
        if let function = pod.functionKey { functionNodes[function, default: [:]][node, default: 0] += 1 }
    }

    /// Undoes ``add(_:)`` for a pod as it was when added.
    public mutating func remove(_ pod: PodUsage) {
        guard Self.counts(pod), let node = pod.nodeName else { return }
        guard let requests = pod.requests else {
            unreadablePods -= 1
            return
        }
        let remaining = (requestedByNode[node] ?? .zero) - requests
        let count = (podsByNode[node] ?? 0) - 1
        if count <= 0 {
            requestedByNode[node] = nil
            podsByNode[node] = nil
        } else {
            requestedByNode[node] = remaining
            podsByNode[node] = count
        }
        if let function = pod.functionKey {
            let left = (functionNodes[function]?[node] ?? 0) - 1
            if left <= 0 {
                functionNodes[function]?[node] = nil
                if functionNodes[function]?.isEmpty == true { functionNodes[function] = nil }
            } else {
                functionNodes[function]?[node] = left
            }
        }
    }

    /// Replaces a pod's old state with its new one.
    public mutating func update(from old: PodUsage, to new: PodUsage) {
        remove(old)
        add(new)
    }
}
