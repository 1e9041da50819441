import KubeModels

/// The fields each kind can be selected by (the `AddFieldLabelConversionFunc`s of
/// `k8s.io/kubernetes/pkg/apis/*/v1`); any other is the API server's 400
/// `field label not supported`. Every kind supports `metadata.name` and `metadata.namespace`.
enum FieldSelectors {
    static func supported(_ type: ResourceType, custom: CustomResourceRegistry.Served?) -> Set<String> {
        var fields: Set<String> = ["metadata.name", "metadata.namespace"]
        if let custom { return fields.union(custom.version.selectableFields) }
        switch type {
        case .pods:
            fields.formUnion([
                "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                "status.podIP", "status.podIPs", "status.nominatedNodeName",
            ])
        case .nodes: fields.insert("spec.unschedulable")
        case .namespaces: fields.insert("status.phase")
        case .secrets: fields.insert("type")
        case .services: fields.formUnion(["spec.clusterIP", "spec.type"])
        case .replicaSets: fields.insert("status.replicas")
        case .events:
            fields.formUnion([
                "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
                "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
            ])
        case .eventsV1:
            fields.formUnion([
                "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "regarding.apiVersion", "regarding.resourceVersion",
                "regarding.fieldPath", "reason", "reportingController", "type",
            ])
        default: break
        }
        return fields
    }

    static func check(_ selector: FieldSelector, _ type: ResourceType, custom: CustomResourceRegistry.Served?) throws(Status) {
        let supported = supported(type, custom: custom)
        for requirement in selector.requirements where !supported.contains(requirement.path) {
            throw Status.failure(400, .badRequest, "field label not supported: \(requirement.path)")
        }
    }

    /// What an events.k8s.io field selector means on the stored core Event.
    static func stored(_ selector: FieldSelector, _ type: ResourceType) -> FieldSelector {
        guard type == .eventsV1 else { return selector }
        var converted = selector
        converted.requirements = selector.requirements.map { requirement in
            var result = requirement
            if requirement.path.hasPrefix("regarding.") {
                result.path = "involvedObject." + requirement.path.dropFirst("regarding.".count)
            } else if requirement.path == "reportingController" {
                result.path = "reportingComponent"
            }
            return result
        }
        return converted
    }
}
