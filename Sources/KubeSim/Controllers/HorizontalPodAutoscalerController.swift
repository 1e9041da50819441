import KubeModels

/// The HorizontalPodAutoscaler controller, simulated without a metrics pipeline: it keeps the
/// target Deployment's replicas within `minReplicas...maxReplicas` and reports what it sees.
/// A target scaled to 0 disables autoscaling (Direktiv 0.10 scales idle functions to zero), as
/// the real controller does.
struct HorizontalPodAutoscalerController {
    let store: ObjectStore

    func reconcile() throws {
        for autoscaler in try store.list(.horizontalPodAutoscalers).items {
            guard let name = autoscaler[path: "metadata", "name"]?.stringValue,
                let namespace = autoscaler[path: "metadata", "namespace"]?.stringValue
            else { continue }
            let target = autoscaler[path: "spec", "scaleTargetRef"] ?? [:]
            var conditions = autoscaler[path: "status", "conditions"]?.arrayValue ?? []
            var current: Int64 = 0
            var desired: Int64 = 0
            if target["kind"]?.stringValue == "Deployment",
                let deployment = try? store.get(.deployments, namespace: namespace, name: target["name"]?.stringValue ?? "")
            {
                let replicas = deployment[path: "spec", "replicas"]?.integerValue ?? 1
                current = deployment[path: "status", "replicas"]?.integerValue ?? 0
                let minimum = autoscaler[path: "spec", "minReplicas"]?.integerValue ?? 1
                let maximum = autoscaler[path: "spec", "maxReplicas"]?.integerValue ?? replicas
                conditions = Conditions.set(conditions, type: "AbleToScale", status: "True", reason: "SucceededGetScale")
                if replicas == 0 {
                    conditions = Conditions.set(
                        conditions, type: "ScalingActive", status: "False", reason: "ScalingDisabled",
                        message: "scaling is disabled since the replica count of the target is zero")
                } else {
                    desired = min(max(replicas, minimum), maximum)
                    if desired != replicas {
                        try? store.modify(.deployments, namespace: namespace, name: deployment[path: "metadata", "name"]?.stringValue ?? "") {
                            $0 = $0.setting(path: ["spec", "replicas"], .integer(desired))
                        }
                    }
                    conditions = Conditions.set(
                        conditions, type: "ScalingLimited", status: desired != replicas ? "True" : "False",
                        reason: replicas < minimum ? "TooFewReplicas" : replicas > maximum ? "TooManyReplicas" : "DesiredWithinRange")
                }
            } else {
                conditions = Conditions.set(
                    conditions, type: "AbleToScale", status: "False", reason: "FailedGetScale",
                    message: "the HPA controller was unable to get the target's current scale")
            }
            let status: JSONValue = [
                "currentReplicas": .integer(current), "desiredReplicas": .integer(desired), "conditions": .array(conditions),
            ]
            if status != autoscaler["status"] {
                try? store.modify(.horizontalPodAutoscalers, namespace: namespace, name: name, subresource: "status") {
                    $0 = $0.setting("status", status)
                }
            }
        }
    }
}
