import Foundation
import KubeModels

/// The Deployment controller, simulated: one ReplicaSet per pod template (named
/// `<deployment>-<pod-template-hash>`, owned by the Deployment); the current one gets
/// `spec.replicas`, older ones are scaled to 0 once it is available, and at most
/// `revisionHistoryLimit` scaled-down ones are kept. Status counts the pods of its ReplicaSets.
struct DeploymentController {
    let store: ObjectStore
    static let hashLabel = "pod-template-hash"
    static let revisionAnnotation = "deployment.kubernetes.io/revision"

    static func templateHash(_ template: JSONValue) -> String {
        String(Pods.digest((try? template.encoded()).map { String(decoding: $0, as: UTF8.self) } ?? "", length: 10))
    }

    func reconcile() throws {
        let sets = try store.list(.replicaSets).items
        for deployment in try store.list(.deployments).items where deployment[path: "metadata", "deletionTimestamp"] == nil {
            guard let name = deployment[path: "metadata", "name"]?.stringValue, let namespace = deployment[path: "metadata", "namespace"]?.stringValue
            else { continue }
            let template = deployment[path: "spec", "template"] ?? [:]
            let hash = Self.templateHash(template)
            let replicas = deployment[path: "spec", "replicas"]?.integerValue ?? 1
            let owned = sets.filter { OwnerReference.isControlled($0, by: deployment) }
            let revision = (owned.compactMap { Int($0[path: "metadata", "annotations", Self.revisionAnnotation]?.stringValue ?? "") }.max() ?? 0)
            if let current = owned.first(where: { $0[path: "metadata", "labels", Self.hashLabel]?.stringValue == hash }) {
                if current[path: "spec", "replicas"]?.integerValue != replicas {
                    try? store.modify(.replicaSets, namespace: namespace, name: current[path: "metadata", "name"]?.stringValue ?? "") {
                        $0 = $0.setting(path: ["spec", "replicas"], .integer(replicas))
                    }
                }
                let available = current[path: "status", "availableReplicas"]?.integerValue ?? 0
                if available >= replicas, current[path: "status", "observedGeneration"] == current[path: "metadata", "generation"] {
                    try scaleDownOldSets(owned, current: current, deployment: deployment, namespace: namespace)
                }
            } else {
                let labels = (template[path: "metadata", "labels"] ?? [:]).setting(Self.hashLabel, .string(hash))
                let selector = (deployment[path: "spec", "selector"] ?? [:]).setting(
                    "matchLabels", (deployment[path: "spec", "selector", "matchLabels"] ?? [:]).setting(Self.hashLabel, .string(hash)))
                let set: JSONValue = [
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": [
                        "name": .string("\(name)-\(hash)"), "namespace": .string(namespace), "labels": labels,
                        "annotations": .object([Self.revisionAnnotation: .string(String(revision + 1))]),
                        "ownerReferences": [OwnerReference.controller(deployment, kind: "Deployment", apiVersion: "apps/v1")],
                    ],
                    "spec": [
                        "replicas": .integer(replicas), "selector": selector,
                        "template": template.setting("metadata", (template["metadata"] ?? [:]).setting("labels", labels)),
                    ],
                ]
                _ = try? store.create(set, .replicaSets, namespace: namespace)
            }
        }
    }

    private func scaleDownOldSets(_ owned: [JSONValue], current: JSONValue, deployment: JSONValue, namespace: String) throws {
        let old = owned.filter { $0 != current }
        for set in old where (set[path: "spec", "replicas"]?.integerValue ?? 0) != 0 {
            try? store.modify(.replicaSets, namespace: namespace, name: set[path: "metadata", "name"]?.stringValue ?? "") {
                $0 = $0.setting(path: ["spec", "replicas"], .integer(0))
            }
        }
        let limit = Int(deployment[path: "spec", "revisionHistoryLimit"]?.integerValue ?? 10)
        let history = old.sorted {
            Int($0[path: "metadata", "annotations", Self.revisionAnnotation]?.stringValue ?? "") ?? 0
                < Int($1[path: "metadata", "annotations", Self.revisionAnnotation]?.stringValue ?? "") ?? 0
        }
        for set in history.dropLast(max(0, limit)) where (set[path: "status", "replicas"]?.integerValue ?? 0) == 0 {
            _ = try? store.delete(.replicaSets, namespace: namespace, name: set[path: "metadata", "name"]?.stringValue ?? "")
        }
    }

    func reconcileStatus() throws {
        let sets = try store.list(.replicaSets).items
        for deployment in try store.list(.deployments).items {
            guard let name = deployment[path: "metadata", "name"]?.stringValue, let namespace = deployment[path: "metadata", "namespace"]?.stringValue
            else { continue }
            let hash = Self.templateHash(deployment[path: "spec", "template"] ?? [:])
            let owned = sets.filter { OwnerReference.isControlled($0, by: deployment) }
            let current = owned.first { $0[path: "metadata", "labels", Self.hashLabel]?.stringValue == hash }
            func total(_ field: String, _ sets: [JSONValue]) -> Int64 { sets.reduce(0) { $0 + ($1[path: "status", field]?.integerValue ?? 0) } }
            let replicas = deployment[path: "spec", "replicas"]?.integerValue ?? 1
            let updated = current.map { total("replicas", [$0]) } ?? 0
            let ready = total("readyReplicas", owned)
            let available = total("availableReplicas", owned)
            let updatedAvailable = current.map { total("availableReplicas", [$0]) } ?? 0
            var conditions = deployment[path: "status", "conditions"]?.arrayValue ?? []
            if available >= replicas {
                conditions = Conditions.set(
                    conditions, type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "Deployment has minimum availability."
                )
            } else {
                conditions = Conditions.set(
                    conditions, type: "Available", status: "False", reason: "MinimumReplicasUnavailable",
                    message: current.flatMap(unschedulableMessage) ?? "Deployment does not have minimum availability.")
            }
            let complete = updatedAvailable >= replicas && total("replicas", owned) == updated
            conditions = Conditions.set(
                conditions, type: "Progressing", status: "True", reason: complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                message: current.map {
                    "ReplicaSet \"\($0[path: "metadata", "name"]?.stringValue ?? "")\" \(complete ? "has successfully progressed" : "is progressing")."
                })
            var status: [String: JSONValue] = [
                "observedGeneration": .integer(deployment[path: "metadata", "generation"]?.integerValue ?? 1),
                "replicas": .integer(total("replicas", owned)), "updatedReplicas": .integer(updated),
                "readyReplicas": .integer(ready), "availableReplicas": .integer(available),
                "conditions": .array(conditions),
            ]
            if total("replicas", owned) - available > 0 { status["unavailableReplicas"] = .integer(total("replicas", owned) - available) }
            if .object(status) != deployment["status"] {
                try? store.modify(.deployments, namespace: namespace, name: name, subresource: "status") {
                    $0 = $0.setting("status", .object(status))
                }
            }
        }
    }

    /// Why the current ReplicaSet's pods cannot be placed, when the scheduler said so.
    private func unschedulableMessage(_ set: JSONValue) -> String? {
        let pods = (try? store.list(.pods, namespace: set[path: "metadata", "namespace"]?.stringValue).items) ?? []
        return pods.lazy.filter { OwnerReference.isControlled($0, by: set) }.compactMap(Pods.unschedulableMessage).first
    }
}

/// The ReplicaSet controller, simulated: keeps `spec.replicas` active pods (owned by the set,
/// labelled from its template), removes the extra ones (not-yet-running first), and reports how
/// many are ready and available.
struct ReplicaSetController {
    let store: ObjectStore

    func reconcile() throws {
        let pods = try store.list(.pods).items
        for set in try store.list(.replicaSets).items where set[path: "metadata", "deletionTimestamp"] == nil {
            guard let name = set[path: "metadata", "name"]?.stringValue, let namespace = set[path: "metadata", "namespace"]?.stringValue
            else { continue }
            let owned = pods.filter { OwnerReference.isControlled($0, by: set) }
            let active = owned.filter(Pods.isActive)
            let replicas = Int(set[path: "spec", "replicas"]?.integerValue ?? 1)
            let template = set[path: "spec", "template"] ?? [:]
            for _ in active.count..<max(active.count, replicas) {
                var pod = Pods.make(name: "\(name)-\(ObjectStore.randomSuffix())", namespace: namespace, template: template, labels: [:])
                pod = pod.setting(path: ["metadata", "ownerReferences"], [OwnerReference.controller(set, kind: "ReplicaSet", apiVersion: "apps/v1")])
                _ = try? store.create(pod, .pods, namespace: namespace)
            }
            let byReadiness = active.sorted { (Pods.isReady($0) ? 1 : 0) < (Pods.isReady($1) ? 1 : 0) }
            for extra in byReadiness.prefix(max(0, active.count - replicas)) {
                _ = try? store.delete(.pods, namespace: namespace, name: extra[path: "metadata", "name"]?.stringValue ?? "")
            }
            let ready = Int64(active.filter(Pods.isReady).count)
            let status: JSONValue = [
                "replicas": .integer(Int64(active.count)), "fullyLabeledReplicas": .integer(Int64(active.count)),
                "readyReplicas": .integer(ready), "availableReplicas": .integer(ready),
                "observedGeneration": set[path: "metadata", "generation"] ?? 1,
            ]
            if status != set["status"] {
                try? store.modify(.replicaSets, namespace: namespace, name: name, subresource: "status") { $0 = $0.setting("status", status) }
            }
        }
    }
}
