import DispatchCore
import KubeModels

extension Doctor {
    /// Every cluster the rules name has nodes carrying the cluster label.
    static func clusterNodes(_ context: Context) -> [DoctorFinding] {
        let named = context.namedClusters
        guard !named.isEmpty else {
            return [DoctorFinding(check: "cluster-nodes", status: .pass, detail: "the rules name no cluster (only {namespace} or *)")]
        }
        var findings: [DoctorFinding] = []
        for (cluster, source) in named {
            let nodes = context.nodes(of: cluster)
            if nodes.isEmpty {
                findings.append(
                    DoctorFinding(
                        check: "cluster-nodes", status: .fail,
                        detail: "cluster \(cluster) (\(source)) has no node labelled \(context.label)=\(cluster)",
                        why: "functions placed on \(cluster) get a node affinity no node satisfies: their pods stay Pending",
                        fix: """
                            local nodes: kubectl label node <node> \(context.label)=\(cluster)
                            a Liqo peer: on the peer, liqoctl install ... --cluster-labels \(context.label)=\(cluster)
                            """))
            } else {
                let kind = context.isRemote(cluster) ? "virtual" : "local"
                findings.append(
                    DoctorFinding(
                        check: "cluster-nodes", status: .pass,
                        detail: "cluster \(cluster): \(nodes.count) \(kind) node(s) (\(nodes.map(\.name).sorted().joined(separator: ", ")))"))
            }
        }
        return findings
    }

    /// Liqo's virtual nodes carry the cluster label (given to `liqoctl install --cluster-labels`).
    static func virtualNodeLabels(_ context: Context) -> [DoctorFinding] {
        let virtual = context.facts.nodes.filter(\.isVirtualNode)
        let unlabelled = virtual.filter { $0.labels[context.label] == nil }
        guard !unlabelled.isEmpty else {
            return [
                DoctorFinding(
                    check: "virtual-node-labels", status: .pass,
                    detail: virtual.isEmpty ? "no Liqo virtual nodes" : "\(virtual.count) virtual node(s) labelled \(context.label)")
            ]
        }
        return unlabelled.map { node in
            let remote = node.labels["liqo.io/remote-cluster-id"].map { " (remote cluster id \($0))" } ?? ""
            return DoctorFinding(
                check: "virtual-node-labels", status: .fail, detail: "virtual node \(node.name)\(remote) has no \(context.label) label",
                why: "the agent does not know which cluster this peer is: it takes no part in placement and its capacity is not counted",
                fix:
                    "on the peer: liqoctl install ... --cluster-labels \(context.label)=<cluster>, then peer again (Liqo copies these labels onto the virtual node and undoes hand edits)"
            )
        }
    }

    /// Local nodes carry the cluster label (nobody else puts it there).
    static func localNodeLabels(_ context: Context) -> [DoctorFinding] {
        let local = context.facts.nodes.filter { !$0.isVirtualNode }
        let unlabelled = local.filter { $0.labels[context.label] == nil }
        guard !unlabelled.isEmpty else {
            return [
                DoctorFinding(
                    check: "local-node-labels", status: .pass,
                    detail: local.isEmpty ? "no local nodes" : "\(local.count) local node(s) labelled \(context.label)")
            ]
        }
        let cluster = context.localCluster ?? "<cluster>"
        let names = unlabelled.map(\.name).sorted()
        return [
            DoctorFinding(
                check: "local-node-labels", status: .warn,
                detail: "\(names.count) of \(local.count) local node(s) lack \(context.label): \(names.joined(separator: ", "))",
                why: "functions placed on the local cluster never run there: that capacity is neither counted nor used",
                fix: names.map { "kubectl label node \($0) \(context.label)=\(cluster)" }.joined(separator: "\n")
                    + (context.localCluster == nil ? "" : "\n(doctor --fix does this)"))
        ]
    }
}
