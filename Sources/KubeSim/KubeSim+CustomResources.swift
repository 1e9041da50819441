import KubeModels

extension KubeSim {
    /// Knative's and Liqo's CRDs, read once per process from the bundled files.
    static let bundledDefinitions: [JSONValue] = BundledDefinitions.files.compactMap { try? JSONValue(yaml: $0.text) }

    /// Stores a CustomResourceDefinition and establishes it, as `kubectl apply` of a CRD followed
    /// by the API server's controllers would: from then on its resources are served.
    @discardableResult
    public func installDefinition(_ object: JSONValue) throws -> JSONValue {
        let definition = try CustomResourceDefinition(object)
        _ = try store.create(CustomResourceDefinition.created(object), .customResourceDefinitions, namespace: nil)
        return try store.modify(.customResourceDefinitions, namespace: nil, name: definition.name, subresource: "status") { crd in
            crd = crd.setting("status", definition.status(current: nil))
        }
    }
}

extension KubeSim {
    /// The API server's CRD finalizer controller: a definition being deleted gets
    /// `Terminating`, its instances are deleted (each by the normal path, finalizers honoured),
    /// and once none is left its cleanup finalizer comes off, which removes it. Run after every
    /// write that can move this on.
    func finishDefinitionDeletions() {
        for object in (try? store.list(.customResourceDefinitions).items) ?? [] where object[path: "metadata", "deletionTimestamp"] != nil {
            guard let name = object[path: "metadata", "name"]?.stringValue, let definition = try? CustomResourceDefinition(object),
                object[path: "metadata", "finalizers"]?.arrayValue?.contains(.string(CustomResourceDefinition.cleanupFinalizer)) == true
            else { continue }
            var remaining = 0
            for version in definition.versions {
                let type = definition.resourceType(version)
                for instance in (try? store.list(type).items) ?? [] {
                    let namespace = instance[path: "metadata", "namespace"]?.stringValue
                    let instanceName = instance[path: "metadata", "name"]?.stringValue ?? ""
                    if instance[path: "metadata", "deletionTimestamp"] == nil {
                        _ = try? store.delete(type, namespace: namespace, name: instanceName)
                    }
                    if (try? store.get(type, namespace: namespace, name: instanceName)) != nil { remaining += 1 }
                }
            }
            _ = try? store.modify(.customResourceDefinitions, namespace: nil, name: name, subresource: "status") { crd in
                let conditions = Conditions.set(
                    crd[path: "status", "conditions"]?.arrayValue ?? [], type: "Terminating", status: "True",
                    reason: remaining == 0 ? "InstanceDeletionCompleted" : "InstanceDeletionPending",
                    message: remaining == 0 ? "removed all instances" : "could not confirm zero CustomResources remaining: \(remaining) left")
                crd = crd.setting(path: ["status", "conditions"], .array(conditions))
            }
            guard remaining == 0 else { continue }
            _ = try? store.modify(.customResourceDefinitions, namespace: nil, name: name) { crd in
                let finalizers = (crd[path: "metadata", "finalizers"]?.arrayValue ?? []).filter {
                    $0 != .string(CustomResourceDefinition.cleanupFinalizer)
                }
                crd = crd.setting(path: ["metadata", "finalizers"], finalizers.isEmpty ? nil : .array(finalizers))
            }
        }
    }

    /// Whether the definition serving `type` is being deleted: its resources take no new objects.
    func isTerminating(_ type: ResourceType) -> Bool {
        let definition = try? store.get(.customResourceDefinitions, namespace: nil, name: "\(type.plural).\(type.group)")
        return definition?[path: "metadata", "deletionTimestamp"] != nil
    }

    /// The type served at `group/version/plural` right now, custom resources included.
    public func servedType(group: String, version: String, plural: String) -> ResourceType? {
        customResources.snapshot(store).types.first { $0.group == group && $0.version == version && $0.plural == plural }
    }
}
