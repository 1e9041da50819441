import DispatchCore
import KubeModels

extension Doctor {
    /// The selector the seed writes: every Liqo virtual node.
    static let virtualNodeSelector: JSONValue = [
        "nodeSelectorTerms": [["matchExpressions": [["key": "liqo.io/type", "operator": "In", "values": ["virtual-node"]]]]]
    ]

    /// The NamespaceOffloading Liqo needs before pods of `namespace` may reach virtual nodes, as
    /// the seed writes it: for functions `DefaultName` + `LocalAndRemote` over every virtual
    /// node; for Direktiv's own namespace `EnforceSameName` + `Local` (its Services are reflected
    /// under their usual names, its pods stay home).
    public static func namespaceOffloading(namespace: String, forDirektiv: Bool) -> JSONValue {
        var spec: [String: JSONValue] = [
            "namespaceMappingStrategy": forDirektiv ? "EnforceSameName" : "DefaultName",
            "podOffloadingStrategy": forDirektiv ? "Local" : "LocalAndRemote",
        ]
        if !forDirektiv { spec["clusterSelector"] = virtualNodeSelector }
        return [
            "apiVersion": "offloading.liqo.io/v1beta1", "kind": "NamespaceOffloading",
            "metadata": ["name": "offloading", "namespace": .string(namespace)], "spec": .object(spec),
        ]
    }

    static func offloadingYAML(_ object: JSONValue) -> String {
        let spec = object["spec"]
        var lines = [
            "kubectl apply -f - <<EOF", "apiVersion: offloading.liqo.io/v1beta1", "kind: NamespaceOffloading", "metadata:", "  name: offloading",
            "  namespace: \(object.namespace)", "spec:",
            "  namespaceMappingStrategy: \(spec?["namespaceMappingStrategy"]?.stringValue ?? "")",
            "  podOffloadingStrategy: \(spec?["podOffloadingStrategy"]?.stringValue ?? "")",
        ]
        if spec?["clusterSelector"] != nil {
            lines += [
                "  clusterSelector:", "    nodeSelectorTerms:", "      - matchExpressions:", "          - key: liqo.io/type",
                "            operator: In",
                "            values: [virtual-node]",
            ]
        }
        return (lines + ["EOF"]).joined(separator: "\n")
    }

    private static func offloading(in namespace: String, _ context: Context) -> JSONValue? {
        context.facts.namespaceOffloadings.items.first { $0.namespace == namespace && $0.name == "offloading" }
    }

    /// Findings that stand for the whole check when Liqo's API cannot be read.
    private static func unreadableOffloading(_ check: String, _ context: Context) -> [DoctorFinding]? {
        switch context.facts.namespaceOffloadings {
        case .items: return nil
        case .notServed:
            let status: DoctorStatus = context.facts.nodes.contains(where: \.isVirtualNode) ? .fail : .warn
            return [
                DoctorFinding(
                    check: check, status: status, detail: "NamespaceOffloading (offloading.liqo.io/v1beta1) is not served: Liqo 1.x is not installed",
                    why: "without Liqo no pod reaches another cluster", fix: "install Liqo 1.x (liqoctl install) and peer the clusters")
            ]
        case .unreadable(let why):
            return [DoctorFinding(check: check, status: .warn, detail: "cannot read NamespaceOffloadings: \(why)")]
        }
    }

    private static func phaseFinding(_ check: String, _ object: JSONValue) -> DoctorFinding? {
        let phase = object[path: "status", "offloadingPhase"]?.stringValue ?? ""
        guard phase != "Ready" else { return nil }
        return DoctorFinding(
            check: check, status: .fail,
            detail: "NamespaceOffloading \(object.namespace)/offloading is \(phase.isEmpty ? "not reported by Liqo yet" : "in phase \(phase)")",
            why: "Liqo has not set up the namespace on the selected clusters (NoClusterSelected: the selector matches no virtual node)",
            fix: "kubectl -n \(object.namespace) describe namespaceoffloading offloading; liqoctl info")
    }

    /// Each functions namespace is offloaded so pods may reach every cluster the rules name.
    static func functionsOffloading(_ context: Context) -> [DoctorFinding] {
        let check = "offloading-functions"
        if let findings = unreadableOffloading(check, context) { return findings }
        let remote = context.namedClusters.map(\.cluster).filter(context.isRemote)
        var findings: [DoctorFinding] = []
        for namespace in context.rules.functionsNamespaces {
            let wanted = namespaceOffloading(namespace: namespace, forDirektiv: false)
            guard let object = offloading(in: namespace, context) else {
                findings.append(
                    DoctorFinding(
                        check: check, status: .fail, detail: "functions namespace \(namespace) has no NamespaceOffloading \"offloading\"",
                        why: "Liqo keeps every pod of a namespace it does not offload on local nodes: functions placed on peers stay Pending",
                        fix: offloadingYAML(wanted) + "\n(doctor --fix does this)"))
                continue
            }
            var problems: [String] = []
            let strategy = object[path: "spec", "podOffloadingStrategy"]?.stringValue ?? "LocalAndRemote"
            if !remote.isEmpty, strategy == "Local" {
                problems.append("podOffloadingStrategy Local keeps pods off the peers \(remote.joined(separator: ", "))")
            }
            if context.targetsLocal, strategy == "Remote" {
                problems.append("podOffloadingStrategy Remote keeps pods off the local cluster the rules name")
            }
            let selector = object[path: "spec", "clusterSelector"].map(NodeSelector.init(json:))
            for cluster in remote {
                let nodes = context.nodes(of: cluster)
                // No selector, or one without terms, selects every cluster.
                if let selector, !selector.terms.isEmpty, !nodes.contains(where: { selector.matches(labels: $0.labels) }) {
                    problems.append("clusterSelector leaves out \(cluster)'s virtual node")
                }
            }
            if !problems.isEmpty {
                findings.append(
                    DoctorFinding(
                        check: check, status: .fail, detail: "\(namespace)/offloading: \(problems.joined(separator: "; "))",
                        why: "Liqo ANDs its selector and strategy with each pod's node affinity: a function placed where they forbid stays Pending",
                        fix: "kubectl -n \(namespace) delete namespaceoffloading offloading, then:\n" + offloadingYAML(wanted)))
            } else if let phase = phaseFinding(check, object) {
                findings.append(phase)
            } else {
                findings.append(
                    DoctorFinding(
                        check: check, status: .pass,
                        detail:
                            "\(namespace)/offloading: \(strategy), reaches \(remote.isEmpty ? "no peer named by the rules" : remote.joined(separator: ", ")), Ready"
                    ))
            }
        }
        return findings
    }

    /// Direktiv's namespace is reflected under its own name, so remote functions reach the engine.
    static func direktivOffloading(_ context: Context) -> [DoctorFinding] {
        let check = "offloading-direktiv"
        if let findings = unreadableOffloading(check, context) { return findings }
        let namespace = context.settings.direktivNamespace
        let wanted = namespaceOffloading(namespace: namespace, forDirektiv: true)
        guard let object = offloading(in: namespace, context) else {
            return [
                DoctorFinding(
                    check: check, status: .fail, detail: "Direktiv's namespace \(namespace) has no NamespaceOffloading \"offloading\"",
                    why:
                        "functions on a peer call the engine back by its Service name (direktiv-flow.\(namespace)); without the namespace reflected there under the same name that name does not resolve",
                    fix: offloadingYAML(wanted) + "\n(doctor --fix does this)")
            ]
        }
        let mapping = object[path: "spec", "namespaceMappingStrategy"]?.stringValue ?? "DefaultName"
        if mapping != "EnforceSameName" {
            return [
                DoctorFinding(
                    check: check, status: .fail, detail: "\(namespace)/offloading maps the namespace with \(mapping), not EnforceSameName",
                    why: "on the peers Direktiv's Services live under another namespace name: functions cannot reach the engine by its usual name",
                    fix: "the mapping cannot be changed: kubectl -n \(namespace) delete namespaceoffloading offloading, then:\n"
                        + offloadingYAML(wanted))
            ]
        }
        if let phase = phaseFinding(check, object) { return [phase] }
        let strategy = object[path: "spec", "podOffloadingStrategy"]?.stringValue ?? "LocalAndRemote"
        if strategy != "Local" {
            return [
                DoctorFinding(
                    check: check, status: .warn, detail: "\(namespace)/offloading lets Direktiv's own pods leave (\(strategy))",
                    why: "the engine and its database may be scheduled on a peer, away from the functions that run locally",
                    fix: "kubectl -n \(namespace) delete namespaceoffloading offloading, then:\n" + offloadingYAML(wanted))
            ]
        }
        return [DoctorFinding(check: check, status: .pass, detail: "\(namespace)/offloading: EnforceSameName, Local, Ready")]
    }
}
