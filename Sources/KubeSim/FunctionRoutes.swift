import KubeModels

/// Where each simulated function runs: the clusters with a running, reachable pod of it.
///
/// Built from the store's Knative Services, Deployments, pods and nodes, the way cluster DNS
/// plus Liqo's network would carry a call to the function's pods.
struct FunctionRoutes: Sendable {
    struct Route: Sendable, Hashable {
        /// Clusters with at least one running pod on a ready node whose peer is reachable.
        var servingClusters: [String]
    }

    /// By `<fn>.<ns>.svc.cluster.local`.
    var routes: [String: Route] = [:]

    static func canonicalHost(name: String, namespace: String) -> String {
        "\(name).\(namespace).svc.cluster.local"
    }

    /// `<fn>.<ns>`, `<fn>.<ns>.svc` or the full name, with or without a port, to the full name.
    static func canonicalHost(_ host: String) -> String? {
        var name = host.lowercased()
        if let colon = name.firstIndex(of: ":") { name = String(name[..<colon]) }
        if name.hasSuffix(".") { name.removeLast() }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if labels.count == 5, labels[2...] == ["svc", "cluster", "local"] {
            labels.removeLast(3)
        } else if labels.count == 3, labels[2] == "svc" {
            labels.removeLast()
        }
        guard labels.count == 2, !labels[0].isEmpty, !labels[1].isEmpty else { return nil }
        return canonicalHost(name: labels[0], namespace: labels[1])
    }

    static func build(store: ObjectStore, clusterLabel: String) -> FunctionRoutes {
        var clusterOfNode: [String: String] = [:]
        var readyNodes: Set<String> = []
        for node in (try? store.list(.nodes).items) ?? [] {
            guard let name = node[path: "metadata", "name"]?.stringValue else { continue }
            clusterOfNode[name] = node[path: "metadata", "labels", clusterLabel]?.stringValue
            let ready = node[path: "status", "conditions"]?.arrayValue?.first { $0["type"]?.stringValue == "Ready" }
            if ready?["status"]?.stringValue == "True" { readyNodes.insert(name) }
        }
        // Pods by the workload that owns them: Knative's service label or the Deployment's.
        var serving: [String: Set<String>] = [:]
        for pod in (try? store.list(.pods).items) ?? [] where Pods.isRunning(pod) {
            guard let namespace = pod[path: "metadata", "namespace"]?.stringValue,
                let node = pod[path: "spec", "nodeName"]?.stringValue, readyNodes.contains(node),
                pod[path: "metadata", "labels", KubeSim.remoteUnavailableLabel]?.stringValue != "true",
                let cluster = clusterOfNode[node]
            else { continue }
            let labels = pod[path: "metadata", "labels"]
            for owner in [labels?[KnativeController.serviceLabel]?.stringValue, labels?[DeploymentController.ownerLabel]?.stringValue].compactMap({
                $0
            }) {
                serving[canonicalHost(name: owner, namespace: namespace), default: []].insert(cluster)
            }
        }
        var routes = FunctionRoutes()
        for type in [ResourceType.knativeServices, .deployments] {
            for object in (try? store.list(type).items) ?? [] {
                guard let name = object[path: "metadata", "name"]?.stringValue, let namespace = object[path: "metadata", "namespace"]?.stringValue
                else { continue }
                let host = canonicalHost(name: name, namespace: namespace)
                routes.routes[host] = Route(servingClusters: (serving[host] ?? []).sorted())
            }
        }
        return routes
    }
}
