import KubeModels

extension ClusterInventory {
    /// Liqo's label on virtual nodes (`liqo.io/type=virtual-node`).
    public static let liqoTypeLabel = "liqo.io/type"
    public static let liqoVirtualNodeType = "virtual-node"
    public static let liqoRemoteClusterIDLabel = "liqo.io/remote-cluster-id"
    /// Labels that tie a pod to its function: Knative's, then Direktiv 0.10's Deployments'.
    public static let functionPodLabels = ["serving.knative.dev/service", "direktiv-service"]

    /// Builds the inventory from Nodes and Pods as the Kubernetes API returns them.
    ///
    /// - Parameters:
    ///   - clusterLabel: the node label naming each node's cluster.
    ///   - toleratedTaintKeys: taint keys function pods tolerate (the Liqo taint when tolerations are added).
    public init(nodes: [Node], pods: [Pod], clusterLabel: String, toleratedTaintKeys: Set<String> = []) {
        self.init(nodes: nodes, podUsage: pods.map(PodUsage.init), clusterLabel: clusterLabel, toleratedTaintKeys: toleratedTaintKeys)
    }

    /// Builds the inventory from Nodes and pod summaries.
    public init(nodes: [Node], podUsage pods: [PodUsage], clusterLabel: String, toleratedTaintKeys: Set<String> = []) {
        self.init(nodes: nodes, aggregates: PodAggregates(pods), clusterLabel: clusterLabel, toleratedTaintKeys: toleratedTaintKeys)
    }

    /// Builds the inventory from Nodes and the per-node sums of their pods.
    public init(nodes: [Node], aggregates: PodAggregates, clusterLabel: String, toleratedTaintKeys: Set<String> = []) {
        var nodeClusters: [String: String] = [:]
        var nodesByCluster: [String: [NodeState]] = [:]
        var unassigned: [String] = []
        for node in nodes {
            let name = node.metadata.name ?? ""
            guard let cluster = node.metadata.labels?[clusterLabel], !cluster.isEmpty else {
                unassigned.append(name)
                continue
            }
            nodeClusters[name] = cluster
            let state = Self.nodeState(
                node,
                requested: aggregates.requestedByNode[name] ?? .zero,
                podCount: aggregates.podsByNode[name] ?? 0,
                toleratedTaintKeys: toleratedTaintKeys
            )
            nodesByCluster[cluster, default: []].append(state)
        }
        var functionClusters: [FunctionKey: Set<String>] = [:]
        for (function, nodeCounts) in aggregates.functionNodes {
            let clusters = Set(nodeCounts.keys.compactMap { nodeClusters[$0] })
            if !clusters.isEmpty { functionClusters[function] = clusters }
        }
        self.init(
            clusterLabel: clusterLabel,
            clusters: nodesByCluster.map { ClusterState(name: $0.key, nodes: $0.value) },
            unassignedNodes: unassigned.sorted(),
            functionClusters: functionClusters,
            unreadablePods: aggregates.unreadablePods
        )
    }

    static func nodeState(_ node: Node, requested: Resources, podCount: Int, toleratedTaintKeys: Set<String>) -> NodeState {
        let labels = node.metadata.labels ?? [:]
        let allocatable = (try? Resources(node.status?.allocatable)) ?? .zero
        var problems: [NodeProblem] = []
        let conditions = node.status?.conditions ?? []
        if let ready = conditions.first(ofType: "Ready") {
            if ready.status != "True" { problems.append(.notReady(ready.reason)) }
        } else {
            problems.append(.notReady("no Ready condition"))
        }
        if conditions.first(ofType: "NetworkUnavailable")?.status == "True" { problems.append(.networkUnavailable) }
        if node.spec?.unschedulable == true { problems.append(.cordoned) }
        if allocatable.milliCPU <= 0 || allocatable.memoryBytes <= 0 { problems.append(.zeroAllocatable) }
        for taint in node.spec?.taints ?? [] where taint.effect == "NoSchedule" || taint.effect == "NoExecute" {
            // Kubernetes adds its own taints to NotReady nodes; the condition already says so.
            if toleratedTaintKeys.contains(taint.key) || taint.key.hasPrefix("node.kubernetes.io/") && !problems.isEmpty { continue }
            let value = taint.value.map { "=\($0)" } ?? ""
            problems.append(.untoleratedTaint("\(taint.key)\(value):\(taint.effect)"))
        }
        return NodeState(
            name: node.metadata.name ?? "",
            isVirtual: labels[liqoTypeLabel] == liqoVirtualNodeType,
            remoteClusterID: labels[liqoRemoteClusterIDLabel],
            capacity: Capacity(allocatable: allocatable, requested: requested),
            podCount: podCount,
            problems: problems
        )
    }
}
