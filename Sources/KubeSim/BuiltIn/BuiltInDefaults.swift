import KubeModels

/// The defaults the API server fills in when it decodes built-in kinds (the `SetDefaults_*`
/// functions of `k8s.io/kubernetes/pkg/apis/*/v1`), plus what the admission plugins every
/// cluster runs add to pods (ServiceAccount, DefaultTolerationSeconds). Idempotent: applying
/// them to an object that has them changes nothing.
enum BuiltInDefaults {
    static func applied(_ object: JSONValue, _ type: ResourceType) -> JSONValue {
        switch type {
        case .pods:
            let spec = podSpec(object["spec"] ?? [:])
            var admitted = spec.objectValue ?? [:]
            if admitted["serviceAccountName"] == nil { admitted["serviceAccountName"] = admitted["serviceAccount"] ?? "default" }
            if admitted["serviceAccount"] == nil { admitted["serviceAccount"] = admitted["serviceAccountName"] }
            admitted["tolerations"] = .array(defaultTolerations(admitted["tolerations"]?.arrayValue ?? []))
            var result = object.setting("spec", .object(admitted))
            if result[path: "status", "phase"] == nil { result = result.setting(path: ["status", "phase"], "Pending") }
            if result[path: "status", "qosClass"] == nil { result = result.setting(path: ["status", "qosClass"], .string(Pods.qosClass(result))) }
            return result
        case .deployments:
            var spec = object["spec"]?.objectValue ?? [:]
            spec["replicas"] = spec["replicas"] ?? 1
            spec["revisionHistoryLimit"] = spec["revisionHistoryLimit"] ?? 10
            spec["progressDeadlineSeconds"] = spec["progressDeadlineSeconds"] ?? 600
            var strategy = spec["strategy"]?.objectValue ?? [:]
            strategy["type"] = strategy["type"] ?? "RollingUpdate"
            if strategy["type"] == "RollingUpdate" {
                var rolling = strategy["rollingUpdate"]?.objectValue ?? [:]
                rolling["maxUnavailable"] = rolling["maxUnavailable"] ?? "25%"
                rolling["maxSurge"] = rolling["maxSurge"] ?? "25%"
                strategy["rollingUpdate"] = .object(rolling)
            }
            spec["strategy"] = .object(strategy)
            if let template = spec["template"] { spec["template"] = template.setting("spec", podSpec(template["spec"] ?? [:])) }
            return object.setting("spec", .object(spec))
        case .replicaSets:
            var spec = object["spec"]?.objectValue ?? [:]
            spec["replicas"] = spec["replicas"] ?? 1
            if let template = spec["template"] { spec["template"] = template.setting("spec", podSpec(template["spec"] ?? [:])) }
            return object.setting("spec", .object(spec))
        case .services:
            var spec = object["spec"]?.objectValue ?? [:]
            let serviceType = spec["type"]?.stringValue ?? "ClusterIP"
            spec["type"] = .string(serviceType)
            spec["sessionAffinity"] = spec["sessionAffinity"] ?? "None"
            if serviceType != "ExternalName" {
                spec["internalTrafficPolicy"] = spec["internalTrafficPolicy"] ?? "Cluster"
                spec["ipFamilyPolicy"] = spec["ipFamilyPolicy"] ?? "SingleStack"
                spec["ipFamilies"] = spec["ipFamilies"] ?? ["IPv4"]
            }
            if let ports = spec["ports"]?.arrayValue {
                spec["ports"] = .array(
                    ports.map { port in
                        var members = port.objectValue ?? [:]
                        members["protocol"] = members["protocol"] ?? "TCP"
                        if members["targetPort"] == nil { members["targetPort"] = members["port"] }
                        return .object(members)
                    })
            }
            return object.setting("spec", .object(spec))
        case .horizontalPodAutoscalers:
            var spec = object["spec"]?.objectValue ?? [:]
            spec["minReplicas"] = spec["minReplicas"] ?? 1
            if spec["metrics"] == nil {
                spec["metrics"] = [["type": "Resource", "resource": ["name": "cpu", "target": ["type": "Utilization", "averageUtilization": 80]]]]
            }
            return object.setting("spec", .object(spec))
        default:
            return object
        }
    }

    /// SetDefaults_PodSpec and SetDefaults_Container.
    static func podSpec(_ spec: JSONValue) -> JSONValue {
        guard var members = spec.objectValue else { return spec }
        members["restartPolicy"] = members["restartPolicy"] ?? "Always"
        members["dnsPolicy"] = members["dnsPolicy"] ?? "ClusterFirst"
        members["terminationGracePeriodSeconds"] = members["terminationGracePeriodSeconds"] ?? 30
        members["schedulerName"] = members["schedulerName"] ?? "default-scheduler"
        members["securityContext"] = members["securityContext"] ?? [:]
        members["enableServiceLinks"] = members["enableServiceLinks"] ?? true
        for field in ["containers", "initContainers"] {
            guard let containers = members[field]?.arrayValue else { continue }
            members[field] = .array(containers.map(container))
        }
        return .object(members)
    }

    static func container(_ container: JSONValue) -> JSONValue {
        guard var members = container.objectValue else { return container }
        if members["imagePullPolicy"] == nil {
            // Always for `:latest` or no tag, IfNotPresent for any other tag or a digest.
            let image = members["image"]?.stringValue ?? ""
            let last = image.split(separator: "/").last.map(String.init) ?? image
            let tagged = image.contains("@") || (last.contains(":") && !last.hasSuffix(":latest"))
            members["imagePullPolicy"] = tagged ? "IfNotPresent" : "Always"
        }
        members["terminationMessagePath"] = members["terminationMessagePath"] ?? "/dev/termination-log"
        members["terminationMessagePolicy"] = members["terminationMessagePolicy"] ?? "File"
        if let ports = members["ports"]?.arrayValue {
            members["ports"] = .array(ports.map { $0["protocol"] == nil ? $0.setting("protocol", "TCP") : $0 })
        }
        // Limits without requests: the requests default to the limits.
        if let limits = container[path: "resources", "limits"]?.objectValue {
            var requests = container[path: "resources", "requests"]?.objectValue ?? [:]
            for (resource, value) in limits where requests[resource] == nil { requests[resource] = value }
            members["resources"] = (members["resources"] ?? [:]).setting("requests", .object(requests))
        }
        return .object(members)
    }

    /// DefaultTolerationSeconds: pods tolerate not-ready and unreachable nodes for 300 s before
    /// they are evicted.
    static func defaultTolerations(_ tolerations: [JSONValue]) -> [JSONValue] {
        var result = tolerations
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            let covered = tolerations.contains { toleration in
                let effect = toleration["effect"]?.stringValue ?? ""
                return (toleration["key"]?.stringValue == key || (toleration["key"] == nil && toleration["operator"] == "Exists"))
                    && (effect.isEmpty || effect == "NoExecute")
            }
            if !covered { result.append(["key": .string(key), "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300]) }
        }
        return result
    }
}
