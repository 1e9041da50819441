import KubeModels

/// The namespace controller: a namespace being deleted (phase Terminating) has everything in it
/// deleted; once nothing is left (pods wait for their kubelets), its `kubernetes` finalizer
/// comes off through the `finalize` subresource and the namespace is gone.
struct NamespaceController {
    let store: ObjectStore

    func reconcile() throws {
        let terminating = try store.list(.namespaces).items.filter { $0[path: "metadata", "deletionTimestamp"] != nil }
        guard !terminating.isEmpty else { return }
        let contents = store.allObjects().filter { $0.type.namespaced }
        for namespace in terminating {
            guard let name = namespace[path: "metadata", "name"]?.stringValue else { continue }
            let inside = contents.filter { $0.object[path: "metadata", "namespace"]?.stringValue == name }
            for entry in inside where entry.object[path: "metadata", "deletionTimestamp"] == nil {
                _ = try? store.delete(
                    entry.type, namespace: name, name: entry.object[path: "metadata", "name"]?.stringValue ?? "", options: DeletionOptions())
            }
            if inside.isEmpty {
                try? store.modify(.namespaces, namespace: nil, name: name, subresource: "finalize") { object in
                    let kept = (object[path: "spec", "finalizers"]?.arrayValue ?? []).filter { $0.stringValue != ObjectStore.namespaceFinalizer }
                    object = object.setting(path: ["spec", "finalizers"], .array(kept))
                }
            }
        }
    }
}
