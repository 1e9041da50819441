import DispatchCore
import KubeModels

extension Doctor {
    /// Condition states a ForeignCluster reports for a working peer (or a module it does not use).
    static let goodConditionStates: Set<String> = ["Established", "Ready", "None"]

    /// Each peer the rules name has a ForeignCluster whose modules report it ready.
    static func foreignClusters(_ context: Context) -> [DoctorFinding] {
        let check = "foreign-clusters"
        let peers = context.namedClusters.map(\.cluster).filter(context.isRemote)
        guard !peers.isEmpty else { return [DoctorFinding(check: check, status: .pass, detail: "the rules name no Liqo peer")] }
        let foreign: [JSONValue]
        switch context.facts.foreignClusters {
        case .items(let items): foreign = items
        case .notServed:
            return [
                DoctorFinding(
                    check: check, status: .warn, detail: "ForeignCluster (core.liqo.io/v1beta1) is not served: peering cannot be checked",
                    why: "Liqo 1.x reports each peer's health there", fix: "liqoctl info peer")
            ]
        case .unreadable(let why): return [DoctorFinding(check: check, status: .warn, detail: "cannot read ForeignClusters: \(why)")]
        }
        return peers.map { cluster in
            let ids = Set(context.nodes(of: cluster).compactMap { $0.labels["liqo.io/remote-cluster-id"] })
            guard let peer = foreign.first(where: { ids.contains($0[path: "spec", "clusterID"]?.stringValue ?? "") }) else {
                return DoctorFinding(
                    check: check, status: .fail,
                    detail: "no ForeignCluster for \(cluster) (remote cluster id \(ids.sorted().joined(separator: ", ")))",
                    why: "the virtual node outlived its peering: pods sent there never start", fix: "liqoctl peer --remote-kubeconfig <\(cluster)>")
            }
            var bad: [String] = []
            var conditions = peer[path: "status", "conditions"]?.arrayValue ?? []
            for module in ["networking", "authentication", "offloading"]
            where peer[path: "status", "modules", module, "enabled"]?.boolValue == true {
                conditions += peer[path: "status", "modules", module, "conditions"]?.arrayValue ?? []
            }
            for condition in conditions {
                let state = condition["status"]?.stringValue ?? ""
                if !goodConditionStates.contains(state) { bad.append("\(condition["type"]?.stringValue ?? "?") \(state)") }
            }
            guard bad.isEmpty else {
                return DoctorFinding(
                    check: check, status: .fail, detail: "ForeignCluster \(peer.name) (\(cluster)): \(bad.joined(separator: ", "))",
                    why: "Liqo does not consider the peer healthy: offloaded pods may not start or be reached",
                    fix: "liqoctl info peer \(peer[path: "spec", "clusterID"]?.stringValue ?? peer.name)")
            }
            return DoctorFinding(
                check: check, status: .pass, detail: "ForeignCluster \(peer.name) (\(cluster)): peered, \(conditions.count) condition(s) ready")
        }
    }

    /// No Liqo Quota enforces `Hard` limits, which refuse pods whose requests differ from their limits.
    static func liqoQuota(_ context: Context) -> [DoctorFinding] {
        let check = "liqo-quota"
        let quotas: [JSONValue]
        switch context.facts.quotas {
        case .items(let items): quotas = items
        case .notServed: return [DoctorFinding(check: check, status: .pass, detail: "Liqo's Quota kind is not served: no limits enforcement")]
        case .unreadable(let why): return [DoctorFinding(check: check, status: .warn, detail: "cannot read Liqo Quotas: \(why)")]
        }
        let hard = quotas.filter { $0[path: "spec", "limitsEnforcement"]?.stringValue == "Hard" }
        guard !hard.isEmpty else { return [DoctorFinding(check: check, status: .pass, detail: "\(quotas.count) Liqo Quota(s), none Hard")] }
        return hard.map { quota in
            DoctorFinding(
                check: check, status: .fail, detail: "Quota \(quota.namespace)/\(quota.name) enforces Hard limits",
                why: "Hard requires requests equal to limits; Direktiv sets requests below limits, so its function pods are refused",
                fix:
                    "kubectl -n \(quota.namespace) patch quotas.offloading.liqo.io \(quota.name) --type merge -p '{\"spec\":{\"limitsEnforcement\":\"Soft\"}}'"
            )
        }
    }
}
