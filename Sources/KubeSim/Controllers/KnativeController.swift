import Foundation
import KubeModels

/// Knative Serving, simulated: each Service generation is a revision with `max(minScale, 1)`
/// pods (the template's containers plus Knative's queue-proxy); readiness follows the pods.
struct KnativeController {
    let store: ObjectStore

    static let serviceLabel = "serving.knative.dev/service"
    static let revisionLabel = "serving.knative.dev/revision"
    static let configurationLabel = "serving.knative.dev/configuration"

    static func revisionName(_ service: String, generation: Int64) -> String {
        let number = String(generation)
        return "\(service)-\(String(repeating: "0", count: max(0, 5 - number.count)))\(number)"
    }

    static func minScale(_ service: JSONValue) -> Int {
        let annotations = service[path: "spec", "template", "metadata", "annotations"]?.stringMap ?? [:]
        let value = annotations["autoscaling.knative.dev/min-scale"] ?? annotations["autoscaling.knative.dev/minScale"]
        return max(Int(value ?? "") ?? 0, 1)
    }

    static let queueProxy: JSONValue = [
        "name": "queue-proxy", "image": "gcr.io/knative-releases/knative.dev/serving/cmd/queue",
        "resources": ["requests": ["cpu": "25m"]],
    ]

    /// Creates the current revision's pods; removes older revisions' pods once it is up, and
    /// the pods of deleted Services.
    func reconcile() throws {
        let services = try store.list(.knativeServices).items
        let pods = try store.list(.pods, labelSelector: try LabelSelector(parsing: Self.serviceLabel)).items
        var live: Set<String> = []
        for service in services {
            guard let name = service[path: "metadata", "name"]?.stringValue, let namespace = service[path: "metadata", "namespace"]?.stringValue
            else { continue }
            live.insert("\(namespace)/\(name)")
            let revision = Self.revisionName(name, generation: service[path: "metadata", "generation"]?.integerValue ?? 1)
            let owned = pods.filter {
                $0[path: "metadata", "namespace"]?.stringValue == namespace && $0[path: "metadata", "labels", Self.serviceLabel]?.stringValue == name
            }
            let current = owned.filter { $0[path: "metadata", "labels", Self.revisionLabel]?.stringValue == revision && Pods.isActive($0) }
            let template = service[path: "spec", "template"] ?? [:]
            for _ in current.count..<max(current.count, Self.minScale(service)) {
                let pod = Pods.make(
                    name: "\(revision)-deployment-\(ObjectStore.randomSuffix())\(ObjectStore.randomSuffix().prefix(4))-\(ObjectStore.randomSuffix())",
                    namespace: namespace,
                    template: template,
                    labels: [Self.serviceLabel: name, Self.revisionLabel: revision, Self.configurationLabel: name, "app": revision],
                    extraContainers: [Self.queueProxy]
                )
                _ = try store.create(pod, .pods, namespace: namespace)
            }
            // Traffic moves once the new revision runs; then the old one goes.
            if !current.isEmpty, current.allSatisfy(Pods.isRunning) {
                for old in owned where old[path: "metadata", "labels", Self.revisionLabel]?.stringValue != revision {
                    _ = try? store.delete(.pods, namespace: namespace, name: old[path: "metadata", "name"]?.stringValue ?? "")
                }
            }
        }
        for pod in pods {
            let namespace = pod[path: "metadata", "namespace"]?.stringValue ?? ""
            let service = pod[path: "metadata", "labels", Self.serviceLabel]?.stringValue ?? ""
            // Pods of Services the simulator never saw (the seed's) stay; only Services deleted go.
            if !live.contains("\(namespace)/\(service)"), pod[path: "metadata", "labels", Self.configurationLabel] != nil {
                _ = try? store.delete(.pods, namespace: namespace, name: pod[path: "metadata", "name"]?.stringValue ?? "")
            }
        }
    }

    /// Writes each Service's status from its current revision's pods.
    func reconcileStatus() throws {
        let services = try store.list(.knativeServices).items
        let pods = try store.list(.pods, labelSelector: try LabelSelector(parsing: Self.revisionLabel)).items
        for service in services {
            guard let name = service[path: "metadata", "name"]?.stringValue, let namespace = service[path: "metadata", "namespace"]?.stringValue
            else { continue }
            let generation = service[path: "metadata", "generation"]?.integerValue ?? 1
            let revision = Self.revisionName(name, generation: generation)
            let current = pods.filter {
                $0[path: "metadata", "namespace"]?.stringValue == namespace
                    && $0[path: "metadata", "labels", Self.revisionLabel]?.stringValue == revision && Pods.isActive($0)
            }
            let url = "http://\(name).\(namespace).svc.cluster.local"
            var conditions = service[path: "status", "conditions"]?.arrayValue ?? []
            let ready = current.count >= Self.minScale(service) && current.allSatisfy(Pods.isRunning)
            let failure = current.lazy.compactMap(Pods.unschedulableMessage).first
            if ready {
                for type in ["ConfigurationsReady", "Ready", "RoutesReady"] { conditions = Conditions.set(conditions, type: type, status: "True") }
            } else if let failure {
                let message = "Revision \"\(revision)\" failed with message: \(failure)."
                conditions = Conditions.set(conditions, type: "ConfigurationsReady", status: "False", reason: "RevisionFailed", message: message)
                conditions = Conditions.set(conditions, type: "Ready", status: "False", reason: "RevisionFailed", message: message)
                conditions = Conditions.set(
                    conditions, type: "RoutesReady", status: "Unknown", reason: "RevisionMissing",
                    message: "Configuration \"\(name)\" does not have any ready Revision.")
            } else {
                for type in ["ConfigurationsReady", "Ready", "RoutesReady"] {
                    conditions = Conditions.set(
                        conditions, type: type, status: "Unknown", reason: "RevisionMissing",
                        message: "Configuration \"\(name)\" is waiting for a Revision to become ready.")
                }
            }
            var status: [String: JSONValue] = service["status"]?.objectValue ?? [:]
            status["observedGeneration"] = .integer(generation)
            status["conditions"] = .array(conditions)
            status["latestCreatedRevisionName"] = .string(revision)
            status["url"] = .string(url)
            status["address"] = ["url": .string(url)]
            if ready {
                status["latestReadyRevisionName"] = .string(revision)
                status["traffic"] = [["revisionName": .string(revision), "latestRevision": true, "percent": 100]]
            }
            if .object(status) != service["status"] {
                try? store.modify(.knativeServices, namespace: namespace, name: name, subresource: "status") {
                    $0 = $0.setting("status", .object(status))
                }
            }
        }
    }
}

/// The Deployment controller, simulated: `replicas` pods of the current template, replaced when
/// the template changes; status counts ready replicas and reports availability.
struct DeploymentController {
    let store: ObjectStore
    static let ownerLabel = "kubesim.dev/deployment"
    static let hashLabel = "pod-template-hash"

    static func templateHash(_ template: JSONValue) -> String {
        let bytes = (try? template.encoded()) ?? Data()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(String(hash, radix: 16).prefix(10))
    }

    func reconcile() throws {
        let deployments = try store.list(.deployments).items
        let pods = try store.list(.pods, labelSelector: try LabelSelector(parsing: Self.ownerLabel)).items
        var live: Set<String> = []
        for deployment in deployments {
            guard let name = deployment[path: "metadata", "name"]?.stringValue, let namespace = deployment[path: "metadata", "namespace"]?.stringValue
            else { continue }
            live.insert("\(namespace)/\(name)")
            let template = deployment[path: "spec", "template"] ?? [:]
            let hash = Self.templateHash(template)
            let owned = pods.filter {
                $0[path: "metadata", "namespace"]?.stringValue == namespace && $0[path: "metadata", "labels", Self.ownerLabel]?.stringValue == name
            }
            let current = owned.filter { $0[path: "metadata", "labels", Self.hashLabel]?.stringValue == hash && Pods.isActive($0) }
            let replicas = Int(deployment[path: "spec", "replicas"]?.integerValue ?? 1)
            for _ in current.count..<max(current.count, replicas) {
                let pod = Pods.make(
                    name: "\(name)-\(hash)-\(ObjectStore.randomSuffix())", namespace: namespace, template: template,
                    labels: [Self.ownerLabel: name, Self.hashLabel: hash]
                )
                _ = try store.create(pod, .pods, namespace: namespace)
            }
            for extra in current.dropFirst(replicas) {
                _ = try? store.delete(.pods, namespace: namespace, name: extra[path: "metadata", "name"]?.stringValue ?? "")
            }
            if current.count >= replicas, current.prefix(replicas).allSatisfy(Pods.isRunning) {
                for old in owned where old[path: "metadata", "labels", Self.hashLabel]?.stringValue != hash {
                    _ = try? store.delete(.pods, namespace: namespace, name: old[path: "metadata", "name"]?.stringValue ?? "")
                }
            }
        }
        for pod in pods
        where !live.contains(
            "\(pod[path: "metadata", "namespace"]?.stringValue ?? "")/\(pod[path: "metadata", "labels", Self.ownerLabel]?.stringValue ?? "")")
        {
            _ = try? store.delete(
                .pods, namespace: pod[path: "metadata", "namespace"]?.stringValue, name: pod[path: "metadata", "name"]?.stringValue ?? "")
        }
    }

    func reconcileStatus() throws {
        let deployments = try store.list(.deployments).items
        let pods = try store.list(.pods, labelSelector: try LabelSelector(parsing: Self.ownerLabel)).items
        for deployment in deployments {
            guard let name = deployment[path: "metadata", "name"]?.stringValue, let namespace = deployment[path: "metadata", "namespace"]?.stringValue
            else { continue }
            let hash = Self.templateHash(deployment[path: "spec", "template"] ?? [:])
            let owned = pods.filter {
                $0[path: "metadata", "namespace"]?.stringValue == namespace && $0[path: "metadata", "labels", Self.ownerLabel]?.stringValue == name
                    && Pods.isActive($0)
            }
            let updated = owned.filter { $0[path: "metadata", "labels", Self.hashLabel]?.stringValue == hash }
            let ready = updated.filter(Pods.isRunning).count
            let replicas = Int(deployment[path: "spec", "replicas"]?.integerValue ?? 1)
            var conditions = deployment[path: "status", "conditions"]?.arrayValue ?? []
            if ready >= replicas {
                conditions = Conditions.set(
                    conditions, type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "Deployment has minimum availability."
                )
            } else {
                let failure = updated.lazy.compactMap(Pods.unschedulableMessage).first
                conditions = Conditions.set(
                    conditions, type: "Available", status: "False", reason: "MinimumReplicasUnavailable",
                    message: failure ?? "Deployment does not have minimum availability.")
            }
            conditions = Conditions.set(
                conditions, type: "Progressing", status: "True", reason: ready >= replicas ? "NewReplicaSetAvailable" : "ReplicaSetUpdated")
            let status: JSONValue = [
                "observedGeneration": .integer(deployment[path: "metadata", "generation"]?.integerValue ?? 1),
                "replicas": .integer(Int64(owned.count)), "updatedReplicas": .integer(Int64(updated.count)),
                "readyReplicas": .integer(Int64(ready)), "availableReplicas": .integer(Int64(ready)),
                "conditions": .array(conditions),
            ]
            if status != deployment["status"] {
                try? store.modify(.deployments, namespace: namespace, name: name, subresource: "status") { $0 = $0.setting("status", status) }
            }
        }
    }
}
