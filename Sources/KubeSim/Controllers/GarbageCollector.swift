import KubeModels

/// The garbage collector: deletes objects whose owners are all gone, removes references to
/// owners that are gone while others remain, carries out foreground deletion (dependents first,
/// then the owner's `foregroundDeletion` finalizer comes off) and orphaning (owner references
/// removed, then the owner's `orphan` finalizer).
struct GarbageCollector {
    let store: ObjectStore

    func reconcile() throws {
        let everything = store.allObjects()
        var owners: [String: (type: ResourceType, object: JSONValue)] = [:]
        for entry in everything {
            if let uid = entry.object[path: "metadata", "uid"]?.stringValue { owners[uid] = entry }
        }
        var dependents: [String: [(type: ResourceType, object: JSONValue)]] = [:]
        for entry in everything {
            for reference in entry.object[path: "metadata", "ownerReferences"]?.arrayValue ?? [] {
                if let uid = reference["uid"]?.stringValue { dependents[uid, default: []].append(entry) }
            }
        }
        // Owners being deleted in the foreground or orphaning their dependents.
        for (uid, owner) in owners where owner.object[path: "metadata", "deletionTimestamp"] != nil {
            let finalizers = owner.object[path: "metadata", "finalizers"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let waiting = dependents[uid] ?? []
            if finalizers.contains(ObjectStore.orphanFinalizer) {
                for dependent in waiting { try? removeReference(to: uid, from: dependent) }
                try? removeFinalizer(ObjectStore.orphanFinalizer, from: owner)
            } else if finalizers.contains(ObjectStore.foregroundFinalizer) {
                for dependent in waiting where dependent.object[path: "metadata", "deletionTimestamp"] == nil {
                    _ = try? delete(dependent, propagation: .foreground)
                }
                if waiting.isEmpty { try? removeFinalizer(ObjectStore.foregroundFinalizer, from: owner) }
            }
        }
        // Dependents whose owners are gone.
        for entry in everything {
            let references = entry.object[path: "metadata", "ownerReferences"]?.arrayValue ?? []
            guard !references.isEmpty else { continue }
            let missing = references.compactMap { $0["uid"]?.stringValue }.filter { owners[$0] == nil }
            if missing.count == references.count {
                if entry.object[path: "metadata", "deletionTimestamp"] == nil { _ = try? delete(entry, propagation: .background) }
            } else {
                for uid in missing { try? removeReference(to: uid, from: entry) }
            }
        }
    }

    private func delete(_ entry: (type: ResourceType, object: JSONValue), propagation: DeletionOptions.Propagation) throws {
        _ = try store.delete(
            entry.type, namespace: entry.object[path: "metadata", "namespace"]?.stringValue,
            name: entry.object[path: "metadata", "name"]?.stringValue ?? "",
            options: DeletionOptions(propagationPolicy: propagation, preconditionUID: entry.object[path: "metadata", "uid"]?.stringValue))
    }

    private func removeReference(to uid: String, from entry: (type: ResourceType, object: JSONValue)) throws {
        try store.modify(
            entry.type, namespace: entry.object[path: "metadata", "namespace"]?.stringValue,
            name: entry.object[path: "metadata", "name"]?.stringValue ?? ""
        ) {
            object in
            let kept = (object[path: "metadata", "ownerReferences"]?.arrayValue ?? []).filter { $0["uid"]?.stringValue != uid }
            object = object.setting(path: ["metadata", "ownerReferences"], kept.isEmpty ? nil : .array(kept))
        }
    }

    private func removeFinalizer(_ finalizer: String, from entry: (type: ResourceType, object: JSONValue)) throws {
        try store.modify(
            entry.type, namespace: entry.object[path: "metadata", "namespace"]?.stringValue,
            name: entry.object[path: "metadata", "name"]?.stringValue ?? ""
        ) {
            object in
            let kept = (object[path: "metadata", "finalizers"]?.arrayValue ?? []).filter { $0.stringValue != finalizer }
            object = object.setting(path: ["metadata", "finalizers"], kept.isEmpty ? nil : .array(kept))
        }
    }
}
