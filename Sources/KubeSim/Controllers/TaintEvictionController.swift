import Foundation
import KubeModels

/// Kubernetes' taint eviction controller (`pkg/controller/tainteviction`): a pod bound to a node
/// with a `NoExecute` taint it does not tolerate is deleted at once; one it tolerates for
/// `tolerationSeconds` is deleted that long after the taint's `timeAdded` (the shortest such
/// toleration among the node's NoExecute taints wins); one it tolerates without a limit stays.
///
/// The deletion is the API server's graceful one, so on a node that stopped answering (a lost
/// Liqo peer) the pod stays Terminating: its ReplicaSet or revision replaces it at once, and the
/// replacement is scheduled wherever its affinity allows, which for a function pinned to the
/// lost cluster is nowhere.
struct TaintEvictionController {
    let store: ObjectStore
    var now: Date = Date()

    func reconcile() throws {
        let nodes = Dictionary(
            try store.list(.nodes).items.map { ($0[path: "metadata", "name"]?.stringValue ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        for pod in try store.list(.pods).items where pod[path: "metadata", "deletionTimestamp"] == nil && !Pods.isTerminated(pod) {
            guard let node = nodes[pod[path: "spec", "nodeName"]?.stringValue ?? ""] else { continue }
            let taints = (node[path: "spec", "taints"]?.arrayValue ?? []).filter { $0["effect"]?.stringValue == "NoExecute" }
            guard !taints.isEmpty, let due = Self.evictionTime(pod: pod, taints: taints, now: now), due <= now else { continue }
            _ = try? store.delete(
                .pods, namespace: pod[path: "metadata", "namespace"]?.stringValue, name: pod[path: "metadata", "name"]?.stringValue ?? "")
        }
    }

    /// When the pod is to be evicted, or nil when it tolerates every NoExecute taint for ever.
    static func evictionTime(pod: JSONValue, taints: [JSONValue], now: Date) -> Date? {
        let tolerations = pod[path: "spec", "tolerations"]?.arrayValue ?? []
        var due: Date?
        for taint in taints {
            let matching = tolerations.filter { Scheduler.tolerates($0, taint) }
            guard !matching.isEmpty else { return now }
            // Without a limit on any matching toleration, this taint is tolerated for ever.
            let limits = matching.map { $0["tolerationSeconds"]?.integerValue }
            guard !limits.contains(where: { $0 == nil }) else { continue }
            let seconds = max(0, limits.compactMap { $0 }.min() ?? 0)
            let added = taint["timeAdded"]?.stringValue.flatMap { try? Date($0, strategy: .iso8601) } ?? now
            let at = added.addingTimeInterval(TimeInterval(min(seconds, 31_536_000)))
            due = min(due ?? at, at)
        }
        return due
    }
}
