import DispatchCore
import KubeModels

/// Checks the whole chain a placement depends on (node labels, Liqo offloading and peering,
/// Knative's feature flags, the engine's proxy settings, the webhook) and says, for each link
/// that is missing, why it matters and the exact fix. Each of them, missed, fails quietly.
///
/// The checks are pure functions of ``DoctorFacts``; ``DoctorFacts/gather(client:settings:)``
/// reads them from a cluster, ``DoctorFix`` applies the safe fixes.
public enum Doctor {
    /// What the doctor checks against.
    public struct Settings: Sendable, Hashable {
        public var rules: Rules
        /// Direktiv's namespace (its engine, its Services).
        public var direktivNamespace = "direktiv"
        /// The engine's Deployment in `direktivNamespace`.
        public var engineDeployment = "direktiv-flow"
        /// The agent's proxy URL as the engine should have it; nil: the engine check only reports.
        public var agentProxyURL: String?
        public var webhookConfiguration = "direktiv-dispatch"
        public var knativeNamespace = "knative-serving"
        /// The name local nodes get from `--fix`; nil: the one most local nodes carry.
        public var localCluster: String?

        public init(rules: Rules) {
            self.rules = rules
        }
    }

    /// The checks in the order they are reported.
    public static let checks = [
        "cluster-nodes", "virtual-node-labels", "local-node-labels", "offloading-functions", "offloading-direktiv", "knative-features",
        "engine-proxy", "function-egress", "webhook", "foreign-clusters", "liqo-quota",
    ]

    /// Runs every check on `facts`.
    public static func examine(_ facts: DoctorFacts, settings: Settings) -> DoctorReport {
        let context = Context(facts: facts, settings: settings)
        var findings: [DoctorFinding] = []
        findings += clusterNodes(context)
        findings += virtualNodeLabels(context)
        findings += localNodeLabels(context)
        findings += functionsOffloading(context)
        findings += direktivOffloading(context)
        findings += knativeFeatures(context)
        findings += engineProxy(context)
        findings += functionEgress(context)
        findings += webhook(context)
        findings += foreignClusters(context)
        findings += liqoQuota(context)
        return DoctorReport(findings: findings)
    }

    /// What several checks derive from the facts.
    struct Context {
        let facts: DoctorFacts
        let settings: Settings
        var rules: Rules { settings.rules }
        var label: String { rules.clusterLabel }

        /// Each cluster the rules name, with where: `namespaces[1] (team-*)`.
        var namedClusters: [(cluster: String, source: String)] {
            var result: [(String, String)] = []
            var seen = Set<String>()
            func add(_ cluster: String, _ source: String) {
                if seen.insert(cluster).inserted { result.append((cluster, source)) }
            }
            for (index, rule) in rules.namespaces.enumerated() {
                let source = "namespaces[\(index)] (\(rule.match))"
                for reference in rule.clusters {
                    switch reference {
                    case .named(let name): add(name, source)
                    case .direktivNamespace:
                        // The namespaces this rule decides for, each naming its own cluster.
                        for namespace in rules.direktivNamespaces where rules.rule(for: namespace)?.index == index {
                            add(namespace, "\(source) via {namespace}")
                        }
                    case .all: break
                    }
                }
                if case .fallback(let cluster) = rule.onNoFit { add(cluster, "\(source) fallback") }
            }
            return result
        }

        func nodes(of cluster: String) -> [JSONValue] {
            facts.nodes.filter { $0.labels[label] == cluster }
        }

        /// A cluster whose nodes are all Liqo virtual nodes is a peer.
        func isRemote(_ cluster: String) -> Bool {
            let nodes = nodes(of: cluster)
            return !nodes.isEmpty && nodes.allSatisfy(\.isVirtualNode)
        }

        /// Whether the rules can place on a local node: a named local cluster, or `*`.
        var targetsLocal: Bool {
            namedClusters.contains { !nodes(of: $0.cluster).isEmpty && !isRemote($0.cluster) }
                || rules.namespaces.contains { $0.clusters.contains(.all) } && facts.nodes.contains { !$0.isVirtualNode && $0.labels[label] != nil }
        }

        /// The name for unlabelled local nodes: the setting, else the one most labelled local nodes carry.
        var localCluster: String? {
            if let given = settings.localCluster { return given }
            var counts: [String: Int] = [:]
            for node in facts.nodes where !node.isVirtualNode {
                if let value = node.labels[label] { counts[value, default: 0] += 1 }
            }
            return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
        }
    }
}
