import KubeModels
import Testing

@testable import KubeSim

/// Owner references as the API server's garbage collector follows them
/// (kube-controller-manager's garbagecollector; propagationPolicy per DeleteOptions).
@Suite struct GarbageCollectorTests {
    func store() throws -> ObjectStore {
        let store = ObjectStore()
        _ = try store.create(["metadata": ["name": "default"]], .namespaces, namespace: nil)
        return store
    }

    func pair(_ store: ObjectStore, owner: String, dependent: String) throws {
        let created = try store.create(["metadata": ["name": .string(owner)]], .configMaps, namespace: "default")
        let uid = created[path: "metadata", "uid"] ?? ""
        _ = try store.create(
            [
                "metadata": [
                    "name": .string(dependent), "ownerReferences": [["apiVersion": "v1", "kind": "ConfigMap", "name": .string(owner), "uid": uid]],
                ]
            ],
            .configMaps, namespace: "default")
    }

    func exists(_ store: ObjectStore, _ name: String) -> Bool {
        (try? store.get(.configMaps, namespace: "default", name: name)) != nil
    }

    @Test func backgroundDeletesDependentsAfterTheOwner() throws {
        let store = try store()
        try pair(store, owner: "owner", dependent: "dependent")
        _ = try store.delete(.configMaps, namespace: "default", name: "owner", options: DeletionOptions(propagationPolicy: .background))
        #expect(!exists(store, "owner"))
        #expect(exists(store, "dependent"))
        try GarbageCollector(store: store).reconcile()
        #expect(!exists(store, "dependent"))
    }

    @Test func foregroundDeletesDependentsFirst() throws {
        let store = try store()
        try pair(store, owner: "owner", dependent: "dependent")
        let deleting = try store.delete(.configMaps, namespace: "default", name: "owner", options: DeletionOptions(propagationPolicy: .foreground))
        #expect(deleting.object[path: "metadata", "finalizers"] == ["foregroundDeletion"])
        #expect(exists(store, "owner"))
        // Passes until nothing is left (the dependent is itself deleted in the foreground, so it
        // takes a pass to drop its own finalizer); the owner never goes before its dependent.
        for _ in 0..<5 where exists(store, "owner") {
            try GarbageCollector(store: store).reconcile()
            #expect(exists(store, "owner") || !exists(store, "dependent"))
        }
        #expect(!exists(store, "dependent"))
        #expect(!exists(store, "owner"))
    }

    @Test func orphanKeepsDependentsWithoutTheReference() throws {
        let store = try store()
        try pair(store, owner: "owner", dependent: "dependent")
        _ = try store.delete(.configMaps, namespace: "default", name: "owner", options: DeletionOptions(propagationPolicy: .orphan))
        try GarbageCollector(store: store).reconcile()
        #expect(!exists(store, "owner"))
        #expect(exists(store, "dependent"))
        #expect(try store.get(.configMaps, namespace: "default", name: "dependent")[path: "metadata", "ownerReferences"] == nil)
    }

    @Test func aDryRunDeleteChangesNothing() throws {
        let store = try store()
        try pair(store, owner: "owner", dependent: "dependent")
        let result = try store.delete(.configMaps, namespace: "default", name: "owner", options: DeletionOptions(dryRun: true))
        #expect(result.removed)
        #expect(exists(store, "owner"))
    }
}
