import Foundation
import KubeModels

/// What each node's kubelet does about deleted pods: it stops the containers and confirms the
/// deletion with a grace period of 0, which removes the pod from the API.
///
/// A node that does not answer (`Ready` Unknown, as a Liqo virtual node of a lost peer) never
/// confirms, so its pods stay Terminating, as on a real cluster, until it returns or someone
/// force-deletes them. Pods bound to a node that no longer exists are removed, as the pod
/// garbage collector does.
struct Kubelet {
    let store: ObjectStore

    func reconcile() throws {
        // A lost peer's node whose grace period ran out: the node lifecycle controller gives up on it.
        let now = Date()
        for node in try store.list(.nodes).items {
            guard let text = node[path: "metadata", "annotations", KubeSim.notReadyAtAnnotation]?.stringValue,
                let name = node[path: "metadata", "name"]?.stringValue
            else { continue }
            if (try? Date(text, strategy: .iso8601)).map({ $0 <= now }) ?? true { try KubeSim.setNodeAnswering(false, name: name, in: store) }
        }
        let nodes = Dictionary(
            try store.list(.nodes).items.map { ($0[path: "metadata", "name"]?.stringValue ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        for pod in try store.list(.pods).items where pod[path: "metadata", "deletionTimestamp"] != nil {
            guard let name = pod[path: "metadata", "name"]?.stringValue else { continue }
            let namespace = pod[path: "metadata", "namespace"]?.stringValue
            let nodeName = pod[path: "spec", "nodeName"]?.stringValue ?? ""
            if let node = nodes[nodeName], !Self.isAnswering(node) { continue }
            _ = try? store.delete(.pods, namespace: namespace, name: name, options: DeletionOptions(gracePeriodSeconds: 0))
        }
        // The node lifecycle controller marks the pods of a node that stopped answering not Ready
        // (MarkPodsNotReady, for a node whose Ready is not True), which takes them out of their Services' endpoints; the kubelet marks
        // them Ready again when it answers.
        // Liqo's own verdict comes first: a pod labelled remote-unavailable is not Ready although
        // its virtual node still is, during the grace period.
        for pod in try store.list(.pods).items where Pods.isRunning(pod) {
            guard let node = nodes[pod[path: "spec", "nodeName"]?.stringValue ?? ""] else { continue }
            let shouldBeReady =
                Conditions.status(of: node, "Ready") == "True" && pod[path: "metadata", "labels", KubeSim.remoteUnavailableLabel] != "true"
            guard Pods.isReady(pod) != shouldBeReady else { continue }
            try? store.modify(
                .pods, namespace: pod[path: "metadata", "namespace"]?.stringValue, name: pod[path: "metadata", "name"]?.stringValue ?? "",
                subresource: "status"
            ) { pod in
                let status = shouldBeReady ? "True" : "False"
                var conditions = pod[path: "status", "conditions"]?.arrayValue ?? []
                conditions = Conditions.set(conditions, type: "Ready", status: status)
                conditions = Conditions.set(conditions, type: "ContainersReady", status: status)
                let statuses = (pod[path: "status", "containerStatuses"]?.arrayValue ?? []).map { $0.setting("ready", .bool(shouldBeReady)) }
                pod = pod.setting(path: ["status", "conditions"], .array(conditions)).setting(
                    path: ["status", "containerStatuses"], .array(statuses))
            }
        }
    }

    /// Whether the node's kubelet is posting status: `Ready` is True or False, not Unknown.
    static func isAnswering(_ node: JSONValue) -> Bool {
        Conditions.status(of: node, "Ready") != "Unknown"
    }
}
