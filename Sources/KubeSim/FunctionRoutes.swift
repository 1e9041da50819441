import KubeModels

/// Where each simulated function runs: the clusters with a running, reachable pod of it.
///
/// Built from the store's core Services, EndpointSlices, Knative Services and nodes, the way
/// cluster DNS plus Liqo's network would carry a call to the function's pods.
struct FunctionRoutes: Sendable {
    struct Route: Sendable, Hashable {
        /// Clusters with at least one ready endpoint on a ready node whose peer is reachable.
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

    /// Follows cluster DNS and Kubernetes' Services as a call would: `<name>.<ns>` is the core
    /// Service of that name; a selector Service reaches its ready endpoints, and Knative's
    /// `ExternalName` Service reaches, through the ingress, the private Service of the revision
    /// its Knative Service sends traffic to. An endpoint counts when its node is Ready and its
    /// peer reachable (Liqo's network). No Service, no host.
    static func build(store: ObjectStore, clusterLabel: String) -> FunctionRoutes {
        var clusterOfNode: [String: String] = [:]
        var readyNodes: Set<String> = []
        for node in (try? store.list(.nodes).items) ?? [] {
            guard let name = node[path: "metadata", "name"]?.stringValue else { continue }
            clusterOfNode[name] = node[path: "metadata", "labels", clusterLabel]?.stringValue
            if Conditions.status(of: node, "Ready") == "True" { readyNodes.insert(name) }
        }
        var cutOff: Set<String> = []
        for pod in (try? store.list(.pods, labelSelector: try? LabelSelector(parsing: "\(KubeSim.remoteUnavailableLabel)=true")).items) ?? [] {
            cutOff.insert("\(pod[path: "metadata", "namespace"]?.stringValue ?? "")/\(pod[path: "metadata", "name"]?.stringValue ?? "")")
        }
        let slices = (try? store.list(.endpointSlices).items) ?? []
        func clusters(service: String, namespace: String) -> Set<String> {
            var result: Set<String> = []
            for endpoint in EndpointSliceController.readyEndpoints(of: service, namespace: namespace, slices: slices) {
                guard let node = endpoint.node, readyNodes.contains(node), !cutOff.contains("\(namespace)/\(endpoint.pod)"),
                    let cluster = clusterOfNode[node]
                else { continue }
                result.insert(cluster)
            }
            return result
        }
        var routes = FunctionRoutes()
        for service in (try? store.list(.services).items) ?? [] {
            guard let name = service[path: "metadata", "name"]?.stringValue, let namespace = service[path: "metadata", "namespace"]?.stringValue,
                // Knative's revision Services are reached through the ingress, never called by name.
                service[path: "metadata", "labels", KnativeController.serviceTypeLabel]?.stringValue != "Private"
            else { continue }
            var serving: Set<String> = []
            if service[path: "spec", "type"]?.stringValue == "ExternalName" {
                guard service[path: "spec", "externalName"]?.stringValue == KnativeController.ingressHost,
                    let knative = try? store.get(.knativeServices, namespace: namespace, name: name)
                else { continue }
                for target in knative[path: "status", "traffic"]?.arrayValue ?? [] {
                    guard let revision = target["revisionName"]?.stringValue else { continue }
                    serving.formUnion(clusters(service: KnativeController.privateServiceName(revision), namespace: namespace))
                }
            } else {
                serving = clusters(service: name, namespace: namespace)
            }
            routes.routes[canonicalHost(name: name, namespace: namespace)] = Route(servingClusters: serving.sorted())
        }
        return routes
    }
}
