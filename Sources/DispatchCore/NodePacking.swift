import KubeModels

/// The free capacity of one cluster's schedulable nodes, with pods placed on it in closed form.
///
/// Identical pods fit a node `min(free / request)` times, per resource, so whether `n` of them
/// fit a cluster is a sum over its nodes, however the scheduler orders them: each pod placed on
/// a node takes exactly one of that node's places. Work is per node, never per pod, so a request
/// for a billion replicas costs what a request for one does.
struct NodePacking: Sendable {
    private(set) var frees: [Resources]

    /// Kubernetes keeps replica counts in an int32; larger counts are taken as this.
    static let maximumReplicas = Int(Int32.max)

    init(frees: [Resources]) {
        self.frees = frees
    }

    /// The free capacity of `cluster`'s schedulable nodes.
    init(schedulableNodesOf cluster: ClusterState) {
        self.init(frees: cluster.nodes.filter(\.isSchedulable).map(\.capacity.free))
    }

    /// How many pods of `pod` fit in `free`, counting to `limit` at most.
    static func count(of pod: Resources, in free: Resources, atMost limit: Int) -> Int {
        var count = max(0, limit)
        for (request, available) in [(pod.milliCPU, free.milliCPU), (pod.memoryBytes, free.memoryBytes)] {
            if available < request { return 0 }
            // A request of zero takes nothing of this resource; the other one bounds the count.
            if request > 0 { count = min(count, Int(clamping: available / request)) }
        }
        return count
    }

    /// Whether `replicas` pods of `pod` all fit.
    func fits(_ replicas: Int, of pod: Resources) -> Bool {
        let replicas = min(replicas, Self.maximumReplicas)
        guard replicas > 0 else { return true }
        return placesSum(frees.map { Self.count(of: pod, in: $0, atMost: replicas) }, limit: replicas, perNode: .max) >= replicas
    }

    /// Places up to `replicas` pods of `pod` as a spreading scheduler would: every node that can
    /// hold them takes the same number, up to what it holds, and the last few go to the nodes
    /// with the most free CPU. Returns how many were placed; the rest fit nowhere.
    @discardableResult
    mutating func spread(_ replicas: Int, of pod: Resources) -> Int {
        let replicas = min(replicas, Self.maximumReplicas)
        guard replicas > 0, !frees.isEmpty else { return 0 }
        let places = frees.map { Self.count(of: pod, in: $0, atMost: replicas) }
        var taken: [Int]
        if placesSum(places, limit: replicas, perNode: Int.max) <= replicas {
            taken = places
        } else {
            // The smallest level at which the nodes hold every pod, by bisection.
            var low = 1
            var high = replicas
            while low < high {
                let level = low + (high - low) / 2
                if placesSum(places, limit: replicas, perNode: level) >= replicas { high = level } else { low = level + 1 }
            }
            taken = places.map { min($0, low - 1) }
            var rest = replicas - taken.reduce(0, +)
            let open = frees.indices.filter { places[$0] >= low }
                .sorted { frees[$0].milliCPU - pod.milliCPU * Int64(taken[$0]) > frees[$1].milliCPU - pod.milliCPU * Int64(taken[$1]) }
            for index in open where rest > 0 {
                taken[index] += 1
                rest -= 1
            }
        }
        var placed = 0
        for index in frees.indices where taken[index] > 0 {
            frees[index] -= pod * Int64(taken[index])
            placed += taken[index]
        }
        return placed
    }

    /// `sum(min(place, perNode))`, stopping once above `limit` (so it cannot overflow).
    private func placesSum(_ places: [Int], limit: Int, perNode: Int) -> Int {
        var sum = 0
        for place in places {
            sum += min(place, perNode)
            if sum > limit { return sum }
        }
        return sum
    }
}
