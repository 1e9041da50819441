import KubeModels

/// The EndpointSlice controller, simulated: for each Service with a selector, one slice
/// (`kubernetes.io/service-name` label, owned by the Service) listing the matching pods that
/// have an IP, each `ready` only when the pod is Ready and not terminating, `serving` when
/// Ready, `terminating` while it is being deleted, with its node; ports resolved from the
/// Service's `targetPort` (a number, or a container port's name).
///
/// A Service is routable exactly when its slice has a ready endpoint: this is what the
/// simulated network (``FunctionRoutes``) and Knative's readiness follow.
struct EndpointSliceController {
    let store: ObjectStore
    static let serviceNameLabel = "kubernetes.io/service-name"
    static let managedByLabel = "endpointslice.kubernetes.io/managed-by"
    static let managedBy = "endpointslice-controller.k8s.io"

    func reconcile() throws {
        let pods = try store.list(.pods).items
        let slices = try store.list(.endpointSlices, labelSelector: try LabelSelector(parsing: "\(Self.managedByLabel)=\(Self.managedBy)")).items
        for service in try store.list(.services).items where service[path: "metadata", "deletionTimestamp"] == nil {
            guard let name = service[path: "metadata", "name"]?.stringValue, let namespace = service[path: "metadata", "namespace"]?.stringValue,
                let selector = service[path: "spec", "selector"]?.stringMap, !selector.isEmpty,
                service[path: "spec", "type"]?.stringValue != "ExternalName"
            else { continue }
            let selected = pods.filter { pod in
                pod[path: "metadata", "namespace"]?.stringValue == namespace && !Pods.isTerminated(pod)
                    && pod[path: "status", "podIP"]?.stringValue != nil
                    && selector.allSatisfy { pod[path: "metadata", "labels", $0.key]?.stringValue == $0.value }
            }
            let endpoints = selected.map(Self.endpoint).sorted {
                ($0[path: "targetRef", "name"]?.stringValue ?? "") < ($1[path: "targetRef", "name"]?.stringValue ?? "")
            }
            let ports = Self.ports(service, pods: selected)
            let existing = slices.first { OwnerReference.isControlled($0, by: service) }
            if let existing {
                guard existing["endpoints"] != .array(endpoints) || existing["ports"] != .array(ports) else { continue }
                try? store.modify(.endpointSlices, namespace: namespace, name: existing[path: "metadata", "name"]?.stringValue ?? "") {
                    $0 = $0.setting("endpoints", .array(endpoints)).setting("ports", .array(ports))
                }
            } else {
                let slice: JSONValue = [
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": [
                        "generateName": .string("\(name)-"), "namespace": .string(namespace),
                        "labels": .object([Self.serviceNameLabel: .string(name), Self.managedByLabel: .string(Self.managedBy)]),
                        "ownerReferences": [OwnerReference.controller(service, kind: "Service", apiVersion: "v1")],
                    ],
                    "addressType": "IPv4", "endpoints": .array(endpoints), "ports": .array(ports),
                ]
                _ = try? store.create(slice, .endpointSlices, namespace: namespace)
            }
        }
    }

    static func endpoint(_ pod: JSONValue) -> JSONValue {
        let terminating = pod[path: "metadata", "deletionTimestamp"] != nil
        let ready = Pods.isReady(pod)
        var endpoint: [String: JSONValue] = [
            "addresses": [pod[path: "status", "podIP"] ?? ""],
            "conditions": ["ready": .bool(ready && !terminating), "serving": .bool(ready), "terminating": .bool(terminating)],
            "targetRef": [
                "kind": "Pod", "name": pod[path: "metadata", "name"] ?? "", "namespace": pod[path: "metadata", "namespace"] ?? "",
                "uid": pod[path: "metadata", "uid"] ?? "",
            ],
        ]
        if let node = pod[path: "spec", "nodeName"] { endpoint["nodeName"] = node }
        return .object(endpoint)
    }

    /// The Service's ports with `targetPort` resolved; a named target port the pods do not
    /// declare leaves the port out, as the controller does.
    static func ports(_ service: JSONValue, pods: [JSONValue]) -> [JSONValue] {
        (service[path: "spec", "ports"]?.arrayValue ?? []).compactMap { port in
            let target: Int64?
            switch port["targetPort"] {
            case .string(let name)?:
                target =
                    pods.lazy.flatMap { $0[path: "spec", "containers"]?.arrayValue ?? [] }
                    .flatMap { $0["ports"]?.arrayValue ?? [] }.first { $0["name"]?.stringValue == name }?["containerPort"]?.integerValue
            case let value?: target = value.integerValue
            case nil: target = port["port"]?.integerValue
            }
            guard let target else { return nil }
            var result: [String: JSONValue] = ["port": .integer(target), "protocol": port["protocol"] ?? "TCP"]
            result["name"] = port["name"] ?? ""
            if let appProtocol = port["appProtocol"] { result["appProtocol"] = appProtocol }
            return .object(result)
        }
    }

    /// The ready endpoints of a Service's slices: (pod name, node name).
    static func readyEndpoints(of service: String, namespace: String, slices: [JSONValue]) -> [(pod: String, node: String?)] {
        slices.filter {
            $0[path: "metadata", "namespace"]?.stringValue == namespace && $0[path: "metadata", "labels", serviceNameLabel]?.stringValue == service
        }
        .flatMap { $0["endpoints"]?.arrayValue ?? [] }
        .filter { $0[path: "conditions", "ready"]?.boolValue == true }
        .map { ($0[path: "targetRef", "name"]?.stringValue ?? "", $0["nodeName"]?.stringValue) }
    }
}
