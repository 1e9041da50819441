import KubeModels

extension KubeSim {
    /// Liqo's label on pods running on a peer that cannot be reached.
    public static let remoteUnavailableLabel = "liqo.io/remote-unavailable"

    /// Makes a Liqo peer unreachable or reachable again, as seen from the main cluster.
    ///
    /// Unreachable: the cluster's virtual nodes turn `Ready=Unknown` (`NodeStatusUnknown`) with
    /// Kubernetes' `node.kubernetes.io/unreachable` taints (NoSchedule and NoExecute), their
    /// pods turn not Ready (see ``Kubelet``) and are labelled
    /// `liqo.io/remote-unavailable=true`. Reachable undoes all of it. Returns the nodes changed.
    @discardableResult
    public func setPeer(cluster: String, reachable: Bool, clusterLabel: String = "direktiv.io/namespace") throws -> [String] {
        let nodes = try store.list(.nodes).items.filter {
            $0[path: "metadata", "labels", clusterLabel]?.stringValue == cluster
                && $0[path: "metadata", "labels", "liqo.io/type"]?.stringValue == "virtual-node"
        }
        let names = nodes.compactMap { $0[path: "metadata", "name"]?.stringValue }
        for name in names {
            try store.modify(.nodes, namespace: nil, name: name, subresource: "status") { node in
                var conditions = node[path: "status", "conditions"]?.arrayValue ?? []
                conditions =
                    reachable
                    ? Conditions.set(conditions, type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status")
                    : Conditions.set(
                        conditions, type: "Ready", status: "Unknown", reason: "NodeStatusUnknown", message: "Kubelet stopped posting node status.")
                node = node.setting(path: ["status", "conditions"], .array(conditions))
            }
            try store.modify(.nodes, namespace: nil, name: name) { node in
                var taints = (node[path: "spec", "taints"]?.arrayValue ?? []).filter { $0["key"]?.stringValue != "node.kubernetes.io/unreachable" }
                // The node lifecycle controller's two taints: NoSchedule keeps new pods off (pods
                // tolerate NoExecute for 300 s by default), NoExecute evicts after that.
                if !reachable {
                    // timeAdded: the taint eviction controller counts each pod's tolerationSeconds from it.
                    taints.append(["key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": .string(ObjectStore.timestamp())])
                    taints.append(["key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": .string(ObjectStore.timestamp())])
                }
                node = node.setting(path: ["spec", "taints"], .array(taints))
            }
        }
        for pod in try store.list(.pods).items where names.contains(pod[path: "spec", "nodeName"]?.stringValue ?? "") {
            try store.modify(
                .pods, namespace: pod[path: "metadata", "namespace"]?.stringValue, name: pod[path: "metadata", "name"]?.stringValue ?? ""
            ) { pod in
                pod = pod.setting(path: ["metadata", "labels", Self.remoteUnavailableLabel], reachable ? nil : "true")
            }
        }
        return names
    }
}
