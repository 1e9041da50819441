import Foundation
import KubeModels
import Synchronization
import Testing

@testable import KubeSim

/// Lists and watches as kube-apiserver 1.32's watch cache serves them (the API concepts page
/// "Efficient detection of changes" and "Retrieving large results sets in chunks";
/// `staging/src/k8s.io/apiserver/pkg/storage/cacher`).
struct ListAndWatchTests {
    func store(
        window: Int = 10_000, duration: Duration = .seconds(300), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) throws
        -> ObjectStore
    {
        let store = ObjectStore(eventWindow: window, eventWindowDuration: duration, now: now)
        try Scenario.empty.apply(to: store)
        return store
    }

    func configMap(_ name: String, _ value: String = "1", labels: [String: String] = [:]) -> JSONValue {
        [
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "labels": .object(labels.mapValues(JSONValue.string))],
            "data": ["v": .string(value)],
        ]
    }

    func names(_ items: [JSONValue]) -> [String] { items.compactMap { $0[path: "metadata", "name"]?.stringValue } }

    /// Every page of a paged list shows the store as of the first page, whatever changed in
    /// between; the continue token carries that version and remainingItemCount is told.
    @Test func aPagedListIsOneSnapshot() throws {
        let store = try store()
        for index in 1...5 { _ = try store.create(configMap("cm-\(index)"), .configMaps, namespace: "default") }
        let first = try store.list(.configMaps, namespace: "default", limit: 2)
        #expect(names(first.items) == ["cm-1", "cm-2"])
        #expect(first.remainingItemCount == 3)
        let token = try #require(first.continueToken)

        try store.modify(.configMaps, namespace: "default", name: "cm-3") { $0 = $0.setting("data", ["v": "changed"]) }
        _ = try store.delete(.configMaps, namespace: "default", name: "cm-4")
        _ = try store.create(configMap("cm-9"), .configMaps, namespace: "default")

        let second = try store.list(.configMaps, namespace: "default", limit: 10, continueToken: token)
        #expect(names(second.items) == ["cm-3", "cm-4", "cm-5"])
        #expect(second.items.first?[path: "data", "v"] == "1")
        #expect(second.resourceVersion == first.resourceVersion)
        #expect(second.continueToken == nil)
        // A fresh list sees the changes.
        #expect(names(try store.list(.configMaps, namespace: "default").items) == ["cm-1", "cm-2", "cm-3", "cm-5", "cm-9"])
    }

    /// A continue token whose version left the event window is 410 Expired, with a token that
    /// continues from the current state.
    @Test func aContinueTokenExpiresWithAFreshOne() throws {
        let store = try store(window: 2)
        for index in 1...3 { _ = try store.create(configMap("cm-\(index)"), .configMaps, namespace: "default") }
        let first = try store.list(.configMaps, namespace: "default", limit: 1)
        for index in 4...6 { _ = try store.create(configMap("cm-\(index)"), .configMaps, namespace: "default") }
        do {
            _ = try store.list(.configMaps, namespace: "default", limit: 1, continueToken: first.continueToken)
            Issue.record("an expired token was accepted")
        } catch {
            #expect(error.code == 410)
            let fresh = try #require(error.metadata?.continue)
            #expect(names(try store.list(.configMaps, namespace: "default", continueToken: fresh).items) == ["cm-2", "cm-3", "cm-4", "cm-5", "cm-6"])
        }
    }

    /// resourceVersionMatch: Exact is the state at that version (410 once it left the window),
    /// NotOlderThan the current state, and a version the store has not reached is 504.
    @Test func resourceVersionMatchExactAndNotOlderThan() throws {
        let store = try store(window: 3)
        _ = try store.create(configMap("cm-1"), .configMaps, namespace: "default")
        let before = store.currentResourceVersion
        try store.modify(.configMaps, namespace: "default", name: "cm-1") { $0 = $0.setting("data", ["v": "2"]) }
        let exact = try store.list(.configMaps, namespace: "default", resourceVersion: before, resourceVersionMatch: "Exact")
        #expect(exact.items.first?[path: "data", "v"] == "1")
        #expect(exact.resourceVersion == before)
        let recent = try store.list(.configMaps, namespace: "default", resourceVersion: before, resourceVersionMatch: "NotOlderThan")
        #expect(recent.items.first?[path: "data", "v"] == "2")
        #expect(throws: Status.self) {
            try store.list(
                .configMaps, namespace: "default", resourceVersion: String(Int(store.currentResourceVersion)! + 5),
                resourceVersionMatch: "NotOlderThan")
        }
        do {
            _ = try store.list(.configMaps, resourceVersion: String(Int(store.currentResourceVersion)! + 5))
        } catch {
            #expect(error.code == 504)
            #expect(error.message?.hasPrefix("Too large resource version") == true)
        }
        for index in 2...5 { _ = try store.create(configMap("cm-\(index)"), .configMaps, namespace: "default") }
        do {
            _ = try store.list(.configMaps, namespace: "default", resourceVersion: before, resourceVersionMatch: "Exact")
            Issue.record("a compacted version was listed")
        } catch {
            #expect(error.code == 410)
        }
    }

    /// The window is bounded in time and per resource: writes to one kind do not push another
    /// kind's events out, and events older than the window's duration are gone.
    @Test func theWindowIsBoundedInTimePerResource() async throws {
        let clock = Mutex(ContinuousClock.now)
        let store = try store(window: 3, duration: .seconds(300), now: { clock.withLock { $0 } })
        _ = try store.create(configMap("cm-1"), .configMaps, namespace: "default")
        let afterConfigMap = store.currentResourceVersion
        _ = try store.create(configMap("cm-2"), .configMaps, namespace: "default")
        for index in 1...10 {
            _ = try store.create(["apiVersion": "v1", "kind": "Secret", "metadata": ["name": .string("s-\(index)")]], .secrets, namespace: "default")
        }
        // Ten secret writes later, the config map watch still resumes.
        let resumed = try store.watch(.configMaps, namespace: "default", resourceVersion: afterConfigMap)
        resumed.end()
        var frames: [WatchFrame] = []
        // An ended stream still yields what was queued before it ended.
        for await frame in resumed.frames { frames.append(frame) }
        #expect(frames.count == 1)
        // Six minutes later, a write moves the window on: the old events are gone.
        clock.withLock { $0 = $0.advanced(by: .seconds(360)) }
        _ = try store.create(configMap("cm-3"), .configMaps, namespace: "default")
        let expired = try store.watch(.configMaps, namespace: "default", resourceVersion: afterConfigMap)
        var first: WatchFrame?
        for await frame in expired.frames {
            first = frame
            break
        }
        guard case .error(let status)? = first else {
            Issue.record("expected 410, got \(String(describing: first))")
            return
        }
        #expect(status.code == 410)
    }

    /// An object that stops matching a label selector is DELETED for that watch, carrying the
    /// object as the watcher last saw it at the event's version.
    @Test func leavingASelectorIsDeletedWithThePreviousObject() async throws {
        let store = try store()
        _ = try store.create(configMap("cm", labels: ["team": "a"]), .configMaps, namespace: "default")
        let watch = try store.watch(
            .configMaps, namespace: "default", labelSelector: try LabelSelector(parsing: "team=a"), resourceVersion: store.currentResourceVersion)
        try store.modify(.configMaps, namespace: "default", name: "cm") { $0 = $0.setting(path: ["metadata", "labels", "team"], "b") }
        var iterator = watch.frames.makeAsyncIterator()
        guard case .event(.deleted, let object)? = await iterator.next() else {
            Issue.record("expected DELETED")
            return
        }
        #expect(object[path: "metadata", "labels", "team"] == "a")
        #expect(object[path: "metadata", "resourceVersion"]?.stringValue == store.currentResourceVersion)
        watch.end()
    }

    /// sendInitialEvents: the current objects as ADDED, then a bookmark annotated
    /// `k8s.io/initial-events-end`, then changes.
    @Test func sendInitialEventsEndsWithItsBookmark() async throws {
        let store = try store()
        _ = try store.create(configMap("cm-1"), .configMaps, namespace: "default")
        _ = try store.create(configMap("cm-2"), .configMaps, namespace: "default")
        let watch = try store.watch(.configMaps, namespace: "default", sendInitialEvents: true)
        _ = try store.create(configMap("cm-3"), .configMaps, namespace: "default")
        var iterator = watch.frames.makeAsyncIterator()
        var seen: [String] = []
        for _ in 0..<4 {
            switch await iterator.next() {
            case .event(let kind, let object)?: seen.append("\(kind.rawValue) \(object[path: "metadata", "name"]?.stringValue ?? "")")
            case .initialEventsEnd?: seen.append("END")
            default: seen.append("other")
            }
        }
        #expect(seen == ["ADDED cm-1", "ADDED cm-2", "END", "ADDED cm-3"])
        watch.end()
    }

    /// ValidateListOptions: which option combinations are refused, and with what.
    @Test func invalidOptionCombinationsAreRefused() {
        func check(_ pairs: [(String, String)], watch: Bool) -> Int? {
            let query = Dictionary(pairs) { $1 }
            do {
                try KubeSimResponder.checkListOptions({ query[$0] }, watch: watch)
                return nil
            } catch let status as Status {
                return status.code
            } catch {
                return -1
            }
        }
        #expect(check([("resourceVersionMatch", "Exact")], watch: false) == 422)
        #expect(check([("resourceVersionMatch", "Exact"), ("resourceVersion", "0")], watch: false) == 422)
        #expect(check([("resourceVersionMatch", "Sometimes"), ("resourceVersion", "5")], watch: false) == 422)
        #expect(check([("resourceVersionMatch", "NotOlderThan"), ("resourceVersion", "5"), ("continue", "x")], watch: false) == 422)
        #expect(check([("resourceVersionMatch", "NotOlderThan"), ("resourceVersion", "5")], watch: true) == 422)
        #expect(check([("sendInitialEvents", "true")], watch: false) == 422)
        #expect(check([("sendInitialEvents", "true"), ("resourceVersionMatch", "NotOlderThan")], watch: true) == 422)
        #expect(
            check([("sendInitialEvents", "true"), ("resourceVersionMatch", "NotOlderThan"), ("allowWatchBookmarks", "true")], watch: true) == nil)
        #expect(check([("resourceVersionMatch", "NotOlderThan"), ("resourceVersion", "5")], watch: false) == nil)
    }

    /// Only the field selectors a kind supports; others are 400.
    @Test func fieldSelectorsAreThoseEachKindSupports() throws {
        #expect(FieldSelectors.supported(.pods, custom: nil).contains("spec.nodeName"))
        #expect(throws: Status.self) { try FieldSelectors.check(try FieldSelector(parsing: "spec.nodeName=x"), .configMaps, custom: nil) }
        #expect(throws: Never.self) { try FieldSelectors.check(try FieldSelector(parsing: "metadata.name=x"), .configMaps, custom: nil) }
        #expect(
            throws: Never.self
        ) {
            try FieldSelectors.check(try FieldSelector(parsing: "spec.nodeName!=,status.phase!=Succeeded"), .pods, custom: nil)
        }
    }
}

/// The RBAC authorizer's rule matching, with plain values.
struct AuthorizerTests {
    @Test func rulesCoverVerbsResourcesSubresourcesNamesAndPaths() {
        let rule: JSONValue = ["apiGroups": ["apps"], "resources": ["deployments", "deployments/status"], "verbs": ["get", "patch"]]
        func resource(
            _ verb: String, _ resource: String, _ subresource: String? = nil, name: String? = nil, group: String = "apps"
        )
            -> RequestAttributes
        {
            .resource(verb: verb, group: group, resource: resource, subresource: subresource, namespace: "ns", name: name)
        }
        #expect(Authorizer.covers(rule, resource("get", "deployments")))
        #expect(Authorizer.covers(rule, resource("patch", "deployments", "status")))
        #expect(!Authorizer.covers(rule, resource("patch", "deployments", "scale")))
        #expect(!Authorizer.covers(rule, resource("delete", "deployments")))
        #expect(!Authorizer.covers(rule, resource("get", "deployments", group: "")))
        let named = rule.setting("resourceNames", ["web"])
        #expect(Authorizer.covers(named, resource("get", "deployments", name: "web")))
        #expect(!Authorizer.covers(named, resource("get", "deployments", name: "other")))
        #expect(!Authorizer.covers(named, resource("get", "deployments")), "a list without a name is not covered by resourceNames")
        let paths: JSONValue = ["nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"]]
        #expect(Authorizer.covers(paths, .nonResource(verb: "get", path: "/apis/apps/v1")))
        #expect(!Authorizer.covers(paths, .nonResource(verb: "get", path: "/api/v1")))
        #expect(Authorizer.covers(["resources": ["*"], "apiGroups": ["*"], "verbs": ["*"]], resource("delete", "pods", group: "")))
    }

    @Test func bindingsNameUsersGroupsAndServiceAccounts() {
        let user = UserInfo.serviceAccount(namespace: "ns", name: "agent")
        #expect(Authorizer.binds(["subjects": [["kind": "ServiceAccount", "name": "agent", "namespace": "ns"]]], user))
        #expect(!Authorizer.binds(["subjects": [["kind": "ServiceAccount", "name": "agent", "namespace": "other"]]], user))
        #expect(Authorizer.binds(["subjects": [["kind": "Group", "name": "system:serviceaccounts:ns"]]], user))
        #expect(!Authorizer.binds(["subjects": [["kind": "User", "name": "agent"]]], user))
    }
}
