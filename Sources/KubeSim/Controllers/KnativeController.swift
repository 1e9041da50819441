import Foundation
import KubeModels

/// Knative Serving, simulated: each Service generation is a revision with `max(minScale, 1)`
/// pods (the template's containers plus Knative's queue-proxy) and a `<revision>-private`
/// core Service selecting them; the Service's own name is a core `ExternalName` Service to the
/// ingress. A revision is ready, and the Service Ready, when its private Service has
/// `minScale` ready endpoints: the moment the simulated network can route to it.
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

    static let serviceTypeLabel = "networking.internal.knative.dev/serviceType"
    static let ingressHost = "kourier-internal.kourier-system.svc.cluster.local"

    static func privateServiceName(_ revision: String) -> String { "\(revision)-private" }

    /// How many ready endpoints the revision's private Service has.
    static func readyEndpoints(revision: String, namespace: String, slices: [JSONValue]) -> Int {
        EndpointSliceController.readyEndpoints(of: privateServiceName(revision), namespace: namespace, slices: slices).count
    }

    /// Creates the core Services a Knative Service and its current revision need.
    private func ensureNetworking(_ service: JSONValue, name: String, namespace: String, revision: String) {
        let owner = [OwnerReference.controller(service, kind: "Service", apiVersion: "serving.knative.dev/v1")]
        let wanted: [JSONValue] = [
            [
                "apiVersion": "v1", "kind": "Service",
                "metadata": [
                    "name": .string(Self.privateServiceName(revision)), "namespace": .string(namespace),
                    "labels": .object([Self.serviceLabel: .string(name), Self.revisionLabel: .string(revision), Self.serviceTypeLabel: "Private"]),
                    "ownerReferences": .array(owner),
                ],
                "spec": [
                    "type": "ClusterIP", "selector": .object([Self.revisionLabel: .string(revision)]),
                    "ports": [["name": "http", "port": 80, "protocol": "TCP", "targetPort": 8012]],
                ],
            ],
            [
                "apiVersion": "v1", "kind": "Service",
                "metadata": [
                    "name": .string(name), "namespace": .string(namespace), "labels": .object([Self.serviceLabel: .string(name)]),
                    "ownerReferences": .array(owner),
                ],
                "spec": ["type": "ExternalName", "externalName": .string(Self.ingressHost), "sessionAffinity": "None"],
            ],
        ]
        for object in wanted {
            let objectName = object[path: "metadata", "name"]?.stringValue ?? ""
            if (try? store.get(.services, namespace: namespace, name: objectName)) == nil {
                _ = try? store.create(object, .services, namespace: namespace)
            }
        }
    }

    /// Creates the current revision's pods and Services; removes older revisions' pods once it
    /// is ready, and the pods of deleted Services.
    func reconcile() throws {
        let services = try store.list(.knativeServices).items
        let slices = try store.list(.endpointSlices).items
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
            guard service[path: "metadata", "deletionTimestamp"] == nil else { continue }
            ensureNetworking(service, name: name, namespace: namespace, revision: revision)
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
            // Traffic moves once the new revision is routable; then the old one goes.
            if Self.readyEndpoints(revision: revision, namespace: namespace, slices: slices) >= Self.minScale(service) {
                for old in owned where old[path: "metadata", "labels", Self.revisionLabel]?.stringValue != revision {
                    _ = try? store.delete(.pods, namespace: namespace, name: old[path: "metadata", "name"]?.stringValue ?? "")
                }
                let privateServices = (try? store.list(.services, namespace: namespace).items) ?? []
                for old in privateServices
                where old[path: "metadata", "labels", Self.serviceLabel]?.stringValue == name
                    && old[path: "metadata", "labels", Self.revisionLabel]?.stringValue.map({ $0 != revision }) == true
                {
                    _ = try? store.delete(.services, namespace: namespace, name: old[path: "metadata", "name"]?.stringValue ?? "")
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

    /// Writes each Service's status from its current revision's pods and endpoints.
    func reconcileStatus() throws {
        let services = try store.list(.knativeServices).items
        let slices = try store.list(.endpointSlices).items
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
            let ready = Self.readyEndpoints(revision: revision, namespace: namespace, slices: slices) >= Self.minScale(service)
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
