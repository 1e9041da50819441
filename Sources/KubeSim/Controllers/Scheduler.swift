import Foundation
import KubeModels

/// The kube-scheduler, simulated: for each unbound pod, the nodes that pass the filters (not
/// cordoned, taints tolerated, node selector and required node affinity satisfied, enough free
/// CPU, memory and pod slots), the least allocated of them; or `PodScheduled=False` with the
/// scheduler's own message when none does.
struct Scheduler {
    let store: ObjectStore
    let startDelay: Duration

    struct NodeView {
        var object: JSONValue
        var name: String
        var allocatable: Resources
        var podLimit: Int
        var used: Resources
        var podCount: Int
    }

    func reconcile() throws {
        let pods = try store.list(.pods).items
        var nodes = try store.list(.nodes).items.map { node in
            NodeView(
                object: node,
                name: node[path: "metadata", "name"]?.stringValue ?? "",
                allocatable: (try? Resources(node[path: "status", "allocatable"].flatMap { try? $0.decode(as: [String: Quantity].self) })) ?? .zero,
                podLimit: Int(node[path: "status", "allocatable", "pods"]?.stringValue ?? "110") ?? 110,
                used: .zero,
                podCount: 0
            )
        }
        var index: [String: Int] = [:]
        for (position, node) in nodes.enumerated() { index[node.name] = position }
        for pod in pods where !Pods.isTerminated(pod) {
            if let node = pod[path: "spec", "nodeName"]?.stringValue, let position = index[node] {
                nodes[position].used += Pods.requests(pod)
                nodes[position].podCount += 1
            }
        }
        let now = Date()
        for pod in pods where !Pods.isTerminated(pod) {
            let name = pod[path: "metadata", "name"]?.stringValue ?? ""
            let namespace = pod[path: "metadata", "namespace"]?.stringValue
            if pod[path: "spec", "nodeName"]?.stringValue != nil {
                try start(pod, name: name, namespace: namespace, now: now)
                continue
            }
            let request = Pods.requests(pod)
            var reasons: [String: Int] = [:]
            var best: Int?
            for position in nodes.indices {
                if let reason = filter(pod, nodes[position], request: request) {
                    for part in reason { reasons[part, default: 0] += 1 }
                    continue
                }
                let free = nodes[position].allocatable - nodes[position].used
                if best == nil || free.milliCPU > (nodes[best!].allocatable - nodes[best!].used).milliCPU { best = position }
            }
            if let best {
                nodes[best].used += request
                nodes[best].podCount += 1
                let nodeName = nodes[best].name
                try? store.modify(.pods, namespace: namespace, name: name) { $0 = $0.setting(path: ["spec", "nodeName"], .string(nodeName)) }
                try? store.modify(.pods, namespace: namespace, name: name, subresource: "status") { pod in
                    let conditions = Conditions.set(pod[path: "status", "conditions"]?.arrayValue ?? [], type: "PodScheduled", status: "True")
                    pod = pod.setting(path: ["status", "conditions"], .array(conditions)).setting(
                        path: ["status", "startTime"], .string(ObjectStore.timestamp(now)))
                }
            } else {
                let details = reasons.map { "\($0.value) \($0.key)" }.sorted().joined(separator: ", ")
                let message =
                    "0/\(nodes.count) nodes are available: \(details). preemption: 0/\(nodes.count) nodes are available: \(nodes.count) Preemption is not helpful for scheduling."
                try? store.modify(.pods, namespace: namespace, name: name, subresource: "status") { pod in
                    let conditions = Conditions.set(
                        pod[path: "status", "conditions"]?.arrayValue ?? [], type: "PodScheduled", status: "False", reason: "Unschedulable",
                        message: message)
                    pod = pod.setting(path: ["status", "conditions"], .array(conditions)).setting(path: ["status", "phase"], "Pending")
                }
            }
        }
    }

    /// Moves a bound pod to Running once its start delay has passed.
    private func start(_ pod: JSONValue, name: String, namespace: String?, now: Date) throws {
        // A pod being deleted is not started; its kubelet is stopping it.
        guard pod[path: "metadata", "deletionTimestamp"] == nil, pod[path: "status", "phase"]?.stringValue == "Pending",
            let started = pod[path: "status", "startTime"]?.stringValue.flatMap({ try? Date($0, strategy: .iso8601) }),
            now.timeIntervalSince(started) >= Double(startDelay.components.seconds) + Double(startDelay.components.attoseconds) / 1e18
        else {
            if pod[path: "status", "phase"]?.stringValue == "Pending", pod[path: "status", "startTime"] == nil {
                try? store.modify(.pods, namespace: namespace, name: name, subresource: "status") {
                    $0 = $0.setting(path: ["status", "startTime"], .string(ObjectStore.timestamp(now)))
                }
            }
            return
        }
        let node = try? store.get(.nodes, namespace: nil, name: pod[path: "spec", "nodeName"]?.stringValue ?? "")
        try? store.modify(.pods, namespace: namespace, name: name, subresource: "status") { pod in
            pod = pod.setting("status", Pods.runningStatus(pod, node: node, now: now))
        }
    }

    /// Why a node cannot take the pod, in the real scheduler's words; `nil` when it can.
    func filter(_ pod: JSONValue, _ node: NodeView, request: Resources) -> [String]? {
        if node.object[path: "spec", "unschedulable"]?.boolValue == true {
            return ["node(s) were unschedulable"]
        }
        let tolerations = pod[path: "spec", "tolerations"]?.arrayValue ?? []
        for taint in Self.taints(of: node.object) where taint["effect"]?.stringValue == "NoSchedule" || taint["effect"]?.stringValue == "NoExecute" {
            if !tolerations.contains(where: { Self.tolerates($0, taint) }) {
                return ["node(s) had untolerated taint {\(taint["key"]?.stringValue ?? ""): \(taint["value"]?.stringValue ?? "")}"]
            }
        }
        if !Self.matchesAffinity(pod, node.object) {
            return ["node(s) didn't match Pod's node affinity/selector"]
        }
        var insufficient: [String] = []
        let free = node.allocatable - node.used
        if node.podCount >= node.podLimit { insufficient.append("Too many pods") }
        if request.milliCPU > free.milliCPU { insufficient.append("Insufficient cpu") }
        if request.memoryBytes > free.memoryBytes { insufficient.append("Insufficient memory") }
        return insufficient.isEmpty ? nil : insufficient
    }

    /// The node's taints, with those Kubernetes adds to nodes that are not ready.
    static func taints(of node: JSONValue) -> [JSONValue] {
        var taints = node[path: "spec", "taints"]?.arrayValue ?? []
        let ready = Conditions.status(of: node, "Ready")
        let automatic: String? =
            switch ready {
            case "True": nil
            case "False": "node.kubernetes.io/not-ready"
            default: "node.kubernetes.io/unreachable"
            }
        if let automatic, !taints.contains(where: { $0["key"]?.stringValue == automatic }) {
            taints.append(["key": .string(automatic), "effect": "NoSchedule"])
        }
        return taints
    }

    static func tolerates(_ toleration: JSONValue, _ taint: JSONValue) -> Bool {
        let key = toleration["key"]?.stringValue ?? ""
        let op = toleration["operator"]?.stringValue ?? "Equal"
        let effect = toleration["effect"]?.stringValue ?? ""
        guard effect.isEmpty || effect == taint["effect"]?.stringValue else { return false }
        if key.isEmpty { return op == "Exists" }
        guard key == taint["key"]?.stringValue else { return false }
        return op == "Exists" || (toleration["value"]?.stringValue ?? "") == (taint["value"]?.stringValue ?? "")
    }

    /// `nodeSelector` and the required node affinity terms (OR of terms, AND within a term).
    static func matchesAffinity(_ pod: JSONValue, _ node: JSONValue) -> Bool {
        let labels = node[path: "metadata", "labels"]?.stringMap ?? [:]
        for (key, value) in pod[path: "spec", "nodeSelector"]?.stringMap ?? [:] where labels[key] != value { return false }
        guard
            let required = pod[path: "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"],
            required["nodeSelectorTerms"]?.arrayValue?.isEmpty == false
        else {
            return true
        }
        return NodeSelector(json: required).matches(labels: labels, fields: ["metadata.name": node[path: "metadata", "name"]?.stringValue ?? ""])
    }
}
