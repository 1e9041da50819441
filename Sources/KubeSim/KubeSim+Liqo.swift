import Foundation
import KubeModels

extension KubeSim {
    /// Liqo's label on pods running on a peer that cannot be reached.
    public static let remoteUnavailableLabel = "liqo.io/remote-unavailable"

    /// Until when a lost peer's virtual node still reports Ready (RFC 3339): the node monitor
    /// grace period runs, after which the control plane turns it NotReady (``Kubelet``).
    static let notReadyAtAnnotation = "kubesim.direktiv.io/not-ready-at"

    /// Makes a Liqo peer unreachable or reachable again, as seen from the main cluster.
    ///
    /// Unreachable: at once, the cluster's pods are labelled `liqo.io/remote-unavailable=true`
    /// and turn not Ready, so they leave their Services' endpoints and calls to them fail, as
    /// through a dead Liqo tunnel. After `options.peerNodeGracePeriod` (Liqo and the node
    /// lifecycle controller: about 40 s on a real cluster; KubeSim's default is at once) the
    /// virtual nodes turn `Ready=Unknown` (`NodeStatusUnknown`) with Kubernetes'
    /// `node.kubernetes.io/unreachable` taints (NoSchedule and NoExecute, stamped with
    /// `timeAdded`), from which the taint eviction controller evicts the pods after their
    /// toleration (300 s by default) and they stay Terminating. Reachable undoes all of it at
    /// once. Returns the nodes changed.
    @discardableResult
    public func setPeer(cluster: String, reachable: Bool, clusterLabel: String = "direktiv.io/namespace") throws -> [String] {
        let nodes = try store.list(.nodes).items.filter {
            $0[path: "metadata", "labels", clusterLabel]?.stringValue == cluster
                && $0[path: "metadata", "labels", "liqo.io/type"]?.stringValue == "virtual-node"
        }
        let names = nodes.compactMap { $0[path: "metadata", "name"]?.stringValue }
        let grace = options.peerNodeGracePeriod
        for name in names {
            if reachable || grace <= .zero {
                try Self.setNodeAnswering(reachable, name: name, in: store)
            } else {
                let due = Date().addingTimeInterval(Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18)
                // The annotation holds whole seconds: rounded up, so the node never turns NotReady
                // before its grace is over.
                let at = Date(timeIntervalSince1970: due.timeIntervalSince1970.rounded(.up))
                try store.modify(.nodes, namespace: nil, name: name) { node in
                    node = node.setting(path: ["metadata", "annotations", Self.notReadyAtAnnotation], .string(ObjectStore.timestamp(at)))
                }
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

    /// The node lifecycle controller's verdict on a node: answering (Ready, no unreachable
    /// taints) or not (`Ready=Unknown`, the two unreachable taints with the time they were added).
    static func setNodeAnswering(_ answering: Bool, name: String, in store: ObjectStore) throws {
        try store.modify(.nodes, namespace: nil, name: name, subresource: "status") { node in
            var conditions = node[path: "status", "conditions"]?.arrayValue ?? []
            conditions =
                answering
                ? Conditions.set(conditions, type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status")
                : Conditions.set(
                    conditions, type: "Ready", status: "Unknown", reason: "NodeStatusUnknown", message: "Kubelet stopped posting node status.")
            node = node.setting(path: ["status", "conditions"], .array(conditions))
        }
        try store.modify(.nodes, namespace: nil, name: name) { node in
            var taints = (node[path: "spec", "taints"]?.arrayValue ?? []).filter { $0["key"]?.stringValue != "node.kubernetes.io/unreachable" }
            // The node lifecycle controller's two taints: NoSchedule keeps new pods off (pods
            // tolerate NoExecute for 300 s by default), NoExecute evicts after that; timeAdded is
            // what the taint eviction controller counts each pod's tolerationSeconds from.
            if !answering {
                let now = JSONValue.string(ObjectStore.timestamp())
                taints.append(["key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": now])
                taints.append(["key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": now])
            }
            node = node.setting(path: ["spec", "taints"], .array(taints)).setting(
                path: ["metadata", "annotations", notReadyAtAnnotation], nil)
        }
    }

    /// Sets the round trip Liqo measures to a peer: the `status.latency` of its Connections (the
    /// ones labelled with the remote cluster id its virtual nodes carry). Function answers from
    /// that cluster are delayed by it (``FunctionServers/latency(of:)`` reads it). Returns the
    /// Connections changed.
    @discardableResult
    public func setPeerLatency(cluster: String, milliseconds: Int, clusterLabel: String = "direktiv.io/namespace") throws -> [String] {
        guard let type = LiqoOffloadingController.connections else { return [] }
        var changed: [String] = []
        for connection in Self.connections(of: cluster, in: store, clusterLabel: clusterLabel) {
            let name = connection[path: "metadata", "name"]?.stringValue ?? ""
            try store.modify(type, namespace: connection[path: "metadata", "namespace"]?.stringValue, name: name, subresource: "status") {
                $0 = $0.setting(path: ["status", "latency"], ["value": .string("\(milliseconds)ms"), "timestamp": .string(ObjectStore.timestamp())])
            }
            changed.append(name)
        }
        return changed
    }

    /// The Liqo Connections of a peer: those labelled with the remote cluster id its virtual
    /// nodes carry. None for a local cluster.
    static func connections(of cluster: String, in store: ObjectStore, clusterLabel: String) -> [JSONValue] {
        guard let type = LiqoOffloadingController.connections, let nodes = try? store.list(.nodes).items else { return [] }
        let ids = Set(
            nodes.filter { $0[path: "metadata", "labels", clusterLabel]?.stringValue == cluster }
                .compactMap { $0[path: "metadata", "labels", "liqo.io/remote-cluster-id"]?.stringValue })
        guard !ids.isEmpty, let connections = try? store.list(type).items else { return [] }
        return connections.filter { ids.contains($0[path: "metadata", "labels", "liqo.io/remote-cluster-id"]?.stringValue ?? "") }
    }
}
