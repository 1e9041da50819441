import DispatchCore
import KubeClient
import KubeModels

/// A change `doctor --fix` makes: only what cannot break a working setup (objects that are
/// missing, labels on nodes that have none).
public struct DoctorFix: Sendable, Hashable {
    public enum Change: Sendable, Hashable {
        /// Create a NamespaceOffloading as the seed writes it.
        case createOffloading(JSONValue)
        /// Put the cluster label on a local node without one.
        case labelNode(name: String, key: String, value: String)
    }

    public var change: Change

    /// What the fix does, as printed.
    public var description: String {
        switch change {
        case .createOffloading(let object):
            let spec = object["spec"]
            return
                "created NamespaceOffloading \(object.namespace)/offloading (\(spec?["namespaceMappingStrategy"]?.stringValue ?? ""), \(spec?["podOffloadingStrategy"]?.stringValue ?? ""))"
        case .labelNode(let name, let key, let value): return "labelled node \(name) \(key)=\(value)"
        }
    }

    /// The safe fixes for what `facts` lack.
    public static func plan(_ facts: DoctorFacts, settings: Doctor.Settings) -> [DoctorFix] {
        var fixes: [DoctorFix] = []
        if case .items(let offloadings) = facts.namespaceOffloadings {
            let targets = settings.rules.functionsNamespaces.map { ($0, false) } + [(settings.direktivNamespace, true)]
            let existing = facts.namespaces.items.map(\.name)
            for (namespace, forDirektiv) in targets
            where existing.contains(namespace) && !offloadings.contains(where: { $0.namespace == namespace && $0.name == "offloading" }) {
                fixes.append(DoctorFix(change: .createOffloading(Doctor.namespaceOffloading(namespace: namespace, forDirektiv: forDirektiv))))
            }
        }
        let context = Doctor.Context(facts: facts, settings: settings)
        if let cluster = context.localCluster {
            for node in facts.nodes where !node.isVirtualNode && node.labels[context.label] == nil {
                fixes.append(DoctorFix(change: .labelNode(name: node.name, key: context.label, value: cluster)))
            }
        }
        return fixes
    }

    /// Applies the fix; throws what the API server answered when it refused.
    public func apply(client: KubeClient) async throws {
        switch change {
        case .createOffloading(let object):
            _ = try await client.create(object, .namespaceOffloadings, namespace: object.namespace)
        case .labelNode(let name, let key, let value):
            _ = try await client.patch(
                JSONValue.self, .nodes, name: name, patch: .merge(["metadata": ["labels": .object([key: .string(value)])]]))
        }
    }
}
