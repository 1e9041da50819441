import KubeModels

/// Decoding a built-in kind's body as the API server's strict decoder does: fields the Go type
/// does not have are dropped, and reported under `fieldValidation` (an error for `Strict`, a
/// warning for `Warn`, the default). KubeSim knows the fields of the top level, `metadata`,
/// and the specs the agent and Direktiv write (Pod, container, Deployment, Service); deeper
/// levels are passed through.
enum BuiltInDecoding {
    static let objectMeta: Set<String> = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
        "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields",
    ]
    static let podSpec: Set<String> = [
        "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds",
        "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount", "automountServiceAccountToken",
        "nodeName", "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
        "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority", "dnsConfig",
        "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints",
        "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims", "resources",
    ]
    static let container: Set<String> = [
        "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources", "resizePolicy", "restartPolicy",
        "volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
        "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
    ]
    static let deploymentSpec: Set<String> = [
        "replicas", "selector", "template", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused", "progressDeadlineSeconds",
    ]
    static let replicaSetSpec: Set<String> = ["replicas", "minReadySeconds", "selector", "template"]
    static let serviceSpec: Set<String> = [
        "ports", "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity", "loadBalancerIP", "loadBalancerSourceRanges",
        "externalName", "externalTrafficPolicy", "healthCheckNodePort", "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies",
        "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass", "internalTrafficPolicy", "trafficDistribution",
    ]

    /// The fields a kind has at its top level; nil where KubeSim does not check.
    static func topLevel(_ type: ResourceType) -> Set<String>? {
        let common: Set<String> = ["apiVersion", "kind", "metadata"]
        switch type {
        case .pods, .deployments, .replicaSets, .services, .namespaces, .nodes, .horizontalPodAutoscalers:
            return common.union(["spec", "status"])
        case .configMaps: return common.union(["data", "binaryData", "immutable"])
        case .secrets: return common.union(["data", "stringData", "type", "immutable"])
        case .leases: return common.union(["spec"])
        case .mutatingWebhookConfigurations, .validatingWebhookConfigurations: return common.union(["webhooks"])
        case .endpointSlices: return common.union(["addressType", "endpoints", "ports"])
        default: return nil
        }
    }

    static func decoded(
        _ object: JSONValue, _ type: ResourceType, fieldValidation: FieldValidation, warnings: inout [String]
    ) throws(Status)
        -> JSONValue
    {
        var unknown: [String] = []
        var result = prune(object, known: topLevel(type), path: "", unknown: &unknown)
        if let metadata = result["metadata"] {
            result = result.setting("metadata", prune(metadata, known: objectMeta, path: "metadata", unknown: &unknown))
        }
        func pruneSpec(_ path: [String], _ known: Set<String>) {
            guard let spec = value(result, path) else { return }
            var pruned = prune(spec, known: known, path: path.joined(separator: "."), unknown: &unknown)
            if known == podSpec {
                for field in ["containers", "initContainers"] {
                    guard let containers = pruned[field]?.arrayValue else { continue }
                    let prefix = (path + [field]).joined(separator: ".")
                    pruned = pruned.setting(
                        field,
                        .array(containers.enumerated().map { prune($1, known: container, path: "\(prefix)[\($0)]", unknown: &unknown) }))
                }
            }
            result = result.setting(path: path, pruned)
        }
        switch type {
        case .pods: pruneSpec(["spec"], podSpec)
        case .deployments:
            pruneSpec(["spec"], deploymentSpec)
            pruneSpec(["spec", "template", "spec"], podSpec)
        case .replicaSets:
            pruneSpec(["spec"], replicaSetSpec)
            pruneSpec(["spec", "template", "spec"], podSpec)
        case .services: pruneSpec(["spec"], serviceSpec)
        default: break
        }
        if !unknown.isEmpty {
            let messages = unknown.map { "unknown field \"\($0)\"" }
            switch fieldValidation {
            case .strict: throw Status.failure(400, .badRequest, "strict decoding error: " + messages.joined(separator: ", "))
            case .warn: warnings.append(contentsOf: messages)
            case .ignore: break
            }
        }
        return result
    }

    private static func value(_ object: JSONValue, _ path: [String]) -> JSONValue? {
        var current: JSONValue? = object
        for key in path { current = current?[key] }
        return current
    }

    private static func prune(_ object: JSONValue, known: Set<String>?, path: String, unknown: inout [String]) -> JSONValue {
        guard let known, case .object(var members) = object else { return object }
        for key in members.keys.sorted() where !known.contains(key) {
            unknown.append(path.isEmpty ? key : "\(path).\(key)")
            members[key] = nil
        }
        return .object(members)
    }
}
