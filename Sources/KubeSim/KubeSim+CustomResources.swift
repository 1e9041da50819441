import KubeModels

extension KubeSim {
    /// Knative's and Liqo's CRDs, read once per process from the bundled files.
    static let bundledDefinitions: [JSONValue] = BundledDefinitions.files.compactMap { try? JSONValue(yaml: $0.text) }

    /// Stores a CustomResourceDefinition and establishes it, as `kubectl apply` of a CRD followed
    /// by the API server's controllers would: from then on its resources are served.
    @discardableResult
    public func installDefinition(_ object: JSONValue) throws -> JSONValue {
        let definition = try CustomResourceDefinition(object)
        _ = try store.create(CustomResourceDefinition.defaulted(object), .customResourceDefinitions, namespace: nil)
        return try store.modify(.customResourceDefinitions, namespace: nil, name: definition.name, subresource: "status") { crd in
            crd = crd.setting("status", definition.status(current: nil))
        }
    }
}

extension KubeSim {
    /// The type served at `group/version/plural` right now, custom resources included.
    public func servedType(group: String, version: String, plural: String) -> ResourceType? {
        customResources.snapshot(store).types.first { $0.group == group && $0.version == version && $0.plural == plural }
    }
}
