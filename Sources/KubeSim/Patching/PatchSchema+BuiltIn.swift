extension PatchSchema {
    /// The patch schema of a built-in kind; nil for kinds that take no strategic merge patch
    /// (custom resources).
    static func builtIn(_ type: ResourceType) -> PatchSchema? {
        switch type {
        case .pods: pod
        case .deployments, .replicaSets: deployment
        case .services: service
        case .nodes: node
        case .namespaces: namespace
        case .mutatingWebhookConfigurations, .validatingWebhookConfigurations: mutatingWebhookConfiguration
        case .configMaps, .secrets, .events, .eventsV1, .customResourceDefinitions, .endpointSlices, .horizontalPodAutoscalers, .leases:
            withMetadata(["status": object(["conditions": conditions])])
        default: nil
        }
    }

    /// ObjectMeta: finalizers merge as a set, owner references by uid.
    static let objectMeta = object(["finalizers": primitiveSet, "ownerReferences": merging(by: "uid")])

    static func withMetadata(_ fields: [String: PatchSchema]) -> PatchSchema {
        var all = fields
        all["metadata"] = objectMeta
        return object(all)
    }

    static let conditions = merging(by: "type")

    /// core/v1 Container.
    static let container = object([
        "env": merging(by: "name"),
        "ports": merging(by: "containerPort"),
        "volumeMounts": merging(by: "mountPath"),
        "volumeDevices": merging(by: "devicePath"),
    ])

    /// core/v1 PodSpec.
    static let podSpec = object([
        "containers": merging(by: "name", container),
        "initContainers": merging(by: "name", container),
        "ephemeralContainers": merging(by: "name", container),
        "volumes": PatchSchema(list: .merge(mergeKey: "name"), items: object([:], retainsKeys: true)),
        "imagePullSecrets": merging(by: "name"),
        "hostAliases": merging(by: "ip"),
        "topologySpreadConstraints": merging(by: "topologyKey"),
        "schedulingGates": merging(by: "name"),
        "resourceClaims": PatchSchema(list: .merge(mergeKey: "name"), items: object([:], retainsKeys: true)),
    ])

    static let podTemplate = object(["metadata": objectMeta, "spec": podSpec])

    static let pod = withMetadata([
        "spec": podSpec,
        "status": object(["conditions": conditions, "podIPs": merging(by: "ip"), "hostIPs": merging(by: "ip")]),
    ])

    static let deployment = withMetadata([
        "spec": object(["template": podTemplate, "strategy": object([:], retainsKeys: true)]),
        "status": object(["conditions": conditions]),
    ])

    static let node = withMetadata([
        "spec": object(["podCIDRs": primitiveSet]),
        "status": object(["conditions": conditions, "addresses": merging(by: "type")]),
    ])

    /// core/v1 ServiceSpec: ports merge by port.
    static let service = withMetadata([
        "spec": object(["ports": merging(by: "port")]), "status": object(["conditions": conditions]),
    ])

    static let namespace = withMetadata(["status": object(["conditions": conditions])])

    /// admissionregistration/v1: webhooks merge by name; each webhook's lists are atomic.
    static let mutatingWebhookConfiguration = withMetadata(["webhooks": merging(by: "name")])
}
