import KubeModels
import Testing

@testable import KubeSim

@Suite struct ObjectStoreTests {
    func store(window: Int = 100) throws -> ObjectStore {
        let store = ObjectStore(eventWindow: window)
        for name in ["default", "other"] {
            _ = try store.create(["metadata": ["name": .string(name)]], .namespaces, namespace: nil)
        }
        return store
    }

    @Test func everyWriteGetsANewGlobalVersion() throws {
        let store = try store()
        let a = try store.create(["metadata": ["name": "a"]], .configMaps, namespace: "default")
        let b = try store.create(["metadata": ["name": "b"]], .configMaps, namespace: "other")
        let versionA = Int(try #require(a[path: "metadata", "resourceVersion"]?.stringValue))!
        let versionB = Int(try #require(b[path: "metadata", "resourceVersion"]?.stringValue))!
        #expect(versionB == versionA + 1)
        #expect(store.currentResourceVersion == String(versionB))
        #expect(a[path: "metadata", "uid"] != b[path: "metadata", "uid"])
        #expect(a["apiVersion"] == "v1")
        #expect(a["kind"] == "ConfigMap")
    }

    @Test func generateNameAndNamespaceChecks() throws {
        let store = try store()
        let generated = try store.create(["metadata": ["generateName": "job-"]], .configMaps, namespace: "default")
        let name = try #require(generated[path: "metadata", "name"]?.stringValue)
        #expect(name.hasPrefix("job-") && name.count == 9)
        #expect(throws: Status.self) { try store.create(["metadata": ["name": "x", "namespace": "other"]], .configMaps, namespace: "default") }
        #expect(throws: Status.self) { try store.create(["apiVersion": "apps/v1", "metadata": ["name": "x"]], .configMaps, namespace: "default") }
        #expect(throws: Status.self) { try store.create(["metadata": ["name": "x", "labels": ["a": 1]]], .configMaps, namespace: "default") }
        do {
            _ = try store.create(["metadata": ["name": "Bad"]], .knativeServices, namespace: "default")
            Issue.record("Knative names are DNS-1035 labels")
        } catch {
            #expect(error.code == 422)
            #expect(error.message?.contains("DNS-1035") == true)
        }
    }

    /// As the API server and its namespace controller: the namespace goes Terminating, refuses
    /// new content (403), its objects are deleted, then its finalizer comes off and it is gone.
    /// `default` cannot be deleted at all.
    @Test func deletingANamespaceTerminatesItThenRemovesItsObjects() throws {
        let store = try store()
        _ = try store.create(["metadata": ["name": "inside"]], .configMaps, namespace: "other")
        _ = try store.create(["metadata": ["name": "outside"]], .configMaps, namespace: "default")
        let terminating = try store.delete(.namespaces, namespace: nil, name: "other")
        #expect(terminating[path: "status", "phase"] == "Terminating")
        #expect(terminating[path: "spec", "finalizers"] == ["kubernetes"])
        #expect(terminating[path: "metadata", "labels", "kubernetes.io/metadata.name"] == "other")
        #expect(throws: Status.self) { try store.create(["metadata": ["name": "late"]], .configMaps, namespace: "other") }
        try NamespaceController(store: store).reconcile()
        #expect(try store.list(.configMaps).items.compactMap { $0[path: "metadata", "name"]?.stringValue } == ["outside"])
        try NamespaceController(store: store).reconcile()
        #expect(throws: Status.self) { try store.get(.namespaces, namespace: nil, name: "other") }
        do {
            _ = try store.delete(.namespaces, namespace: nil, name: "default")
            Issue.record("default was deleted")
        } catch {
            #expect(error.code == 403)
        }
    }

    /// Finalizers hold a deleted object until the last one is removed; none may be added then.
    /// A pod on a node stays Terminating until deleted with grace 0 (its kubelet's confirmation).
    @Test func finalizersAndGracefulPodDeletion() throws {
        let store = try store()
        _ = try store.create(["metadata": ["name": "held", "finalizers": ["example.io/keep"]]], .configMaps, namespace: "default")
        let held = try store.delete(.configMaps, namespace: "default", name: "held")
        #expect(held[path: "metadata", "deletionTimestamp"] != nil)
        #expect(throws: Status.self) {
            try store.update(
                held.setting("metadata", (held["metadata"] ?? [:]).setting("finalizers", ["example.io/keep", "example.io/more"])), .configMaps,
                namespace: "default", name: "held")
        }
        _ = try store.update(
            held.setting("metadata", (held["metadata"] ?? [:]).setting("finalizers", [])), .configMaps, namespace: "default", name: "held")
        #expect(throws: Status.self) { try store.get(.configMaps, namespace: "default", name: "held") }

        _ = try store.create(["metadata": ["name": "p"], "spec": ["nodeName": "n1", "containers": [["name": "c"]]]], .pods, namespace: "default")
        let graceful = try store.delete(.pods, namespace: "default", name: "p")
        #expect(graceful[path: "metadata", "deletionGracePeriodSeconds"] == 30)
        #expect(try store.get(.pods, namespace: "default", name: "p")[path: "metadata", "deletionTimestamp"] != nil)
        _ = try store.delete(.pods, namespace: "default", name: "p", options: DeletionOptions(gracePeriodSeconds: 0))
        #expect(throws: Status.self) { try store.get(.pods, namespace: "default", name: "p") }
        // A pod on no node goes at once.
        _ = try store.create(["metadata": ["name": "q"], "spec": ["containers": [["name": "c"]]]], .pods, namespace: "default")
        _ = try store.delete(.pods, namespace: "default", name: "q")
        #expect(throws: Status.self) { try store.get(.pods, namespace: "default", name: "q") }
    }

    @Test func deletePreconditions() throws {
        let store = try store()
        let object = try store.create(["metadata": ["name": "p"]], .configMaps, namespace: "default")
        #expect(throws: Status.self) { try store.delete(.configMaps, namespace: "default", name: "p", preconditions: ("other-uid", nil)) }
        #expect(throws: Status.self) { try store.delete(.configMaps, namespace: "default", name: "p", preconditions: (nil, "1")) }
        _ = try store.delete(
            .configMaps, namespace: "default", name: "p",
            preconditions: (object[path: "metadata", "uid"]?.stringValue, object[path: "metadata", "resourceVersion"]?.stringValue))
    }

    @Test func watchReplaysFromAVersionAndExpiresOldOnes() async throws {
        let store = try store(window: 3)
        let start = store.currentResourceVersion
        _ = try store.create(["metadata": ["name": "one"]], .configMaps, namespace: "default")
        let fromStart = try store.watch(.configMaps, resourceVersion: start)
        var iterator = fromStart.frames.makeAsyncIterator()
        guard case .event(.added, let object)? = await iterator.next() else {
            Issue.record("expected the replayed ADDED")
            return
        }
        #expect(object[path: "metadata", "name"] == "one")
        fromStart.end()

        for index in 0..<4 { _ = try store.create(["metadata": ["name": .string("n\(index)")]], .configMaps, namespace: "default") }
        let expired = try store.watch(.configMaps, resourceVersion: start)
        var expiredIterator = expired.frames.makeAsyncIterator()
        guard case .error(let status)? = await expiredIterator.next() else {
            Issue.record("expected 410")
            return
        }
        #expect(status.code == 410)
        #expect(status.reason == "Expired")
        #expect(await expiredIterator.next() == nil)

        // From "0": the current objects first, as ADDED.
        let fresh = try store.watch(.configMaps, namespace: "default", resourceVersion: "0")
        var freshIterator = fresh.frames.makeAsyncIterator()
        var names: [String] = []
        for _ in 0..<5 {
            if case .event(.added, let object)? = await freshIterator.next() { names.append(object[path: "metadata", "name"]?.stringValue ?? "") }
        }
        #expect(names == ["n0", "n1", "n2", "n3", "one"])
        fresh.end()
        #expect(store.watcherCount == 0)
    }

    @Test func unchangedWritesKeepTheVersion() throws {
        let store = try store()
        let object = try store.create(["metadata": ["name": "same"], "data": ["a": "1"]], .configMaps, namespace: "default")
        let again = try store.update(object, .configMaps, namespace: "default", name: "same")
        #expect(again[path: "metadata", "resourceVersion"] == object[path: "metadata", "resourceVersion"])
    }
}

extension WatchFrame: Equatable {
    public static func == (lhs: WatchFrame, rhs: WatchFrame) -> Bool {
        switch (lhs, rhs) {
        case (.event(let a, let x), .event(let b, let y)): a == b && x == y
        case (.bookmark(let a), .bookmark(let b)): a == b
        case (.initialEventsEnd(let a), .initialEventsEnd(let b)): a == b
        case (.error(let a), .error(let b)): a == b
        default: false
        }
    }
}
