import Foundation
import KubeModels
import Logging
import ServiceLifecycle

/// What the cluster's controllers do, in the simulator: Knative Serving turns Services into
/// revision pods and Services and reports readiness from their endpoints; the HPA keeps
/// Deployments within bounds; Deployments make ReplicaSets, ReplicaSets make pods; the
/// EndpointSlice controller lists each Service's ready pods; the scheduler
/// binds pods to nodes that satisfy node affinity, taints and free capacity, or leaves them
/// Pending with the real scheduler's message; kubelets confirm deleted pods (not on a node that
/// stopped answering); the taint eviction controller deletes pods whose node has a NoExecute
/// taint they no longer tolerate; the garbage collector follows owner references; the namespace controller
/// empties and removes namespaces being deleted; Liqo reports each NamespaceOffloading's phase.
public final class ControlPlane: Service, Sendable {
    public struct Options: Sendable {
        /// How long a bound pod takes to start (image pull and readiness, simulated).
        public var podStartDelay: Duration = .milliseconds(50)
        /// How often time-based transitions are checked when nothing else happens.
        public var tick: Duration = .milliseconds(100)
        public init() {}
    }

    let store: ObjectStore
    let options: Options
    let logger: Logger

    public init(store: ObjectStore, options: Options = Options(), logger: Logger = Logger(label: "kubesim-control-plane")) {
        self.store = store
        self.options = options
        self.logger = logger
    }

    public func run() async throws {
        let (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                let types: [ResourceType] =
                    [.knativeServices, .deployments, .replicaSets, .pods, .nodes, .namespaces, .services, .horizontalPodAutoscalers]
                    + [LiqoOffloadingController.offloadings].compactMap { $0 }
                for type in types {
                    group.addTask {
                        guard let registration = try? self.store.watch(type, resourceVersion: self.store.currentResourceVersion) else { return }
                        defer { registration.end() }
                        for await _ in registration.frames { signal.yield() }
                    }
                }
                group.addTask {
                    while (try? await Task.sleep(for: self.options.tick)) != nil { signal.yield() }
                }
                group.addTask {
                    for await _ in signals { self.reconcile() }
                }
            }
        }
    }

    /// One pass over everything; writes that change nothing record nothing, so passes converge.
    public func reconcile() {
        do {
            try KnativeController(store: store).reconcile()
            try HorizontalPodAutoscalerController(store: store).reconcile()
            try DeploymentController(store: store).reconcile()
            try ReplicaSetController(store: store).reconcile()
            try Scheduler(store: store, startDelay: options.podStartDelay).reconcile()
            try TaintEvictionController(store: store).reconcile()
            try Kubelet(store: store).reconcile()
            try EndpointSliceController(store: store).reconcile()
            try KnativeController(store: store).reconcileStatus()
            try DeploymentController(store: store).reconcileStatus()
            try GarbageCollector(store: store).reconcile()
            try NamespaceController(store: store).reconcile()
            try LiqoOffloadingController(store: store).reconcile()
        } catch {
            logger.warning("control plane pass failed", metadata: ["error": "\(error)"])
        }
    }
}

extension JSONValue {
    /// A copy with the value at `path` set, creating objects on the way.
    public func setting(path: [String], _ value: JSONValue?) -> JSONValue {
        guard let first = path.first else { return value ?? .null }
        if path.count == 1 { return setting(first, value) }
        return setting(first, (self[first] ?? [:]).setting(path: Array(path.dropFirst()), value))
    }
}

/// Conditions as controllers write them: the transition time changes only when the status does.
enum Conditions {
    /// The `status` of an object's condition of this type (`True`, `False`, `Unknown`), if it has one.
    static func status(of object: JSONValue, _ type: String) -> String? {
        object[path: "status", "conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }?["status"]?.stringValue
    }

    static func set(_ conditions: [JSONValue], type: String, status: String, reason: String? = nil, message: String? = nil) -> [JSONValue] {
        var result = conditions.filter { $0["type"]?.stringValue != type }
        let previous = conditions.first { $0["type"]?.stringValue == type }
        var condition: [String: JSONValue] = ["type": .string(type), "status": .string(status)]
        if let reason { condition["reason"] = .string(reason) }
        if let message { condition["message"] = .string(message) }
        let unchanged = previous?["status"]?.stringValue == status
        condition["lastTransitionTime"] =
            unchanged ? (previous?["lastTransitionTime"] ?? .string(ObjectStore.timestamp())) : .string(ObjectStore.timestamp())
        result.append(.object(condition))
        return result.sorted { ($0["type"]?.stringValue ?? "") < ($1["type"]?.stringValue ?? "") }
    }
}

/// Pod helpers shared by the controllers.
enum Pods {
    static func isTerminated(_ pod: JSONValue) -> Bool {
        let phase = pod[path: "status", "phase"]?.stringValue
        return phase == "Succeeded" || phase == "Failed"
    }

    /// A pod that counts as a replica: not finished and not being deleted (a Terminating pod is
    /// replaced at once, as the ReplicaSet controller's FilterActivePods has it).
    static func isActive(_ pod: JSONValue) -> Bool {
        !isTerminated(pod) && pod[path: "metadata", "deletionTimestamp"] == nil
    }

    static func requests(_ pod: JSONValue) -> Resources {
        (try? Pod(from: pod).effectiveRequests()) ?? .zero
    }

    static func unschedulableMessage(_ pod: JSONValue) -> String? {
        guard let scheduled = pod[path: "status", "conditions"]?.arrayValue?.first(where: { $0["type"]?.stringValue == "PodScheduled" }),
            scheduled["status"]?.stringValue == "False"
        else { return nil }
        return scheduled["message"]?.stringValue
    }

    static func isRunning(_ pod: JSONValue) -> Bool {
        pod[path: "status", "phase"]?.stringValue == "Running"
    }

    /// A new pod from a template, with extra labels and containers.
    static func make(name: String, namespace: String, template: JSONValue, labels: [String: String], extraContainers: [JSONValue] = []) -> JSONValue {
        var metadata: [String: JSONValue] = ["name": .string(name), "namespace": .string(namespace)]
        let templateLabels = template[path: "metadata", "labels"]?.stringMap ?? [:]
        metadata["labels"] = .object(templateLabels.merging(labels) { $1 }.mapValues(JSONValue.string))
        if let annotations = template[path: "metadata", "annotations"] { metadata["annotations"] = annotations }
        var spec = template["spec"]?.objectValue ?? [:]
        spec["containers"] = .array((spec["containers"]?.arrayValue ?? []) + extraContainers)
        spec["nodeName"] = nil
        return ["apiVersion": "v1", "kind": "Pod", "metadata": .object(metadata), "spec": .object(spec), "status": ["phase": "Pending"]]
    }
}

extension Pod {
    init(from json: JSONValue) throws {
        self = try json.decode(as: Pod.self)
    }
}
