import KubeModels

/// Liqo's namespace offloading controller, simulated: each NamespaceOffloading's status follows
/// its spec as Liqo 1.x reports it. `Ready` when its cluster selector (none, or one without terms:
/// every peer) matches at least one virtual node, `NoClusterSelected` when it matches none;
/// `remoteNamespaceName` is the local name under `EnforceSameName`, `<name>-main` under
/// `DefaultName` (Liqo appends the local cluster's name). Peers being created and failing are
/// not simulated: remote namespaces are there at once.
struct LiqoOffloadingController {
    let store: ObjectStore
    /// The type KubeSim serves for NamespaceOffloadings, when its definition is installed.
    static let offloadings = try? Scenario.bundledType("namespaceoffloadings.offloading.liqo.io")
    /// The type KubeSim serves for Liqo's Connections (their latency is the simulated WAN).
    static let connections = try? Scenario.bundledType("connections.networking.liqo.io")

    func reconcile() throws {
        guard let type = Self.offloadings, let offloadings = try? store.list(type).items, !offloadings.isEmpty else { return }
        let virtualNodes = try store.list(.nodes).items.filter { $0[path: "metadata", "labels", "liqo.io/type"]?.stringValue == "virtual-node" }
        for offloading in offloadings where offloading[path: "metadata", "deletionTimestamp"] == nil {
            guard let name = offloading[path: "metadata", "name"]?.stringValue, let namespace = offloading[path: "metadata", "namespace"]?.stringValue
            else { continue }
            let selector = offloading[path: "spec", "clusterSelector"].map(NodeSelector.init(json:))
            let selected = virtualNodes.contains { node in
                guard let selector, !selector.terms.isEmpty else { return true }
                return selector.matches(labels: node[path: "metadata", "labels"]?.stringMap ?? [:])
            }
            let mapping = offloading[path: "spec", "namespaceMappingStrategy"]?.stringValue ?? "DefaultName"
            var status = offloading["status"]?.objectValue ?? [:]
            status["offloadingPhase"] = selected ? "Ready" : "NoClusterSelected"
            status["remoteNamespaceName"] = .string(mapping == "EnforceSameName" ? namespace : "\(namespace)-main")
            status["observedGeneration"] = offloading[path: "metadata", "generation"] ?? 1
            guard JSONValue.object(status) != offloading["status"] else { continue }
            _ = try? store.modify(type, namespace: namespace, name: name, subresource: "status") { $0 = $0.setting("status", .object(status)) }
        }
    }
}
