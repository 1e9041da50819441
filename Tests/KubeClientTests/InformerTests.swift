import Foundation
import KubeClient
import KubeModels
import KubeSim
import Logging
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// Runs an informer as a task for the length of `body`.
func withInformer<Source: KubeObject, Stored: Sendable, T>(
    _ informer: Informer<Source, Stored>,
    _ body: (AsyncStream<InformerEvent<Stored>>) async throws -> T
) async throws -> T {
    let events = informer.subscribe()
    let task = Task { try await informer.run() }
    defer { task.cancel() }
    return try await body(events)
}

func isSynced<S>(_ event: InformerEvent<S>) -> Bool {
    if case .synced = event { return true }
    return false
}

@Suite struct InformerTests {
    let logger = Logger(label: "informer-test")

    @Test func listsThenFollowsChanges() async throws {
        try await withSim { _, client in
            let informer = Informer<ConfigMap, ConfigMap>(client: client, resource: .configMaps, namespace: "default", logger: logger)
            try await withInformer(informer) { events in
                _ = try await next(events) { isSynced($0) }
                _ = try await client.create(configMap("followed", data: ["v": "1"]), .configMaps, namespace: "default")
                _ = try await next(events) { if case .added(let key, _) = $0 { return key == "default/followed" } else { return false } }
                _ = try await client.patch(ConfigMap.self, .configMaps, name: "followed", namespace: "default", patch: .merge(["data": ["v": "2"]]))
                let modified = try await next(events) { if case .modified = $0 { return true } else { return false } }
                if case .modified(_, let old, let new) = modified {
                    #expect(old.data == ["v": "1"])
                    #expect(new.data == ["v": "2"])
                }
                _ = try await client.delete(.configMaps, name: "followed", namespace: "default")
                _ = try await next(events) { if case .deleted(let key, _) = $0 { return key == "default/followed" } else { return false } }
                #expect(informer.snapshot()["default/followed"] == nil)
            }
        }
    }

    @Test func relistsAfterGoneWithoutPhantoms() async throws {
        var options = KubeSim.Options()
        options.eventWindow = 2
        try await withSim(options: options) { harness, client in
            for index in 0..<3 { _ = try await client.create(configMap("keep-\(index)"), .configMaps, namespace: "default") }
            let informer = Informer<ConfigMap, ConfigMap>(client: client, resource: .configMaps, namespace: "default", logger: logger)
            try await withInformer(informer) { events in
                _ = try await next(events) { isSynced($0) }
                // The next watch fails as too old; meanwhile objects come and go beyond the small window.
                harness.sim.failNextWatch(with: .failure(410, .gone, "too old"))
                harness.sim.store.endAllWatches()
                _ = try harness.sim.store.delete(.configMaps, namespace: "default", name: "keep-0")
                for index in 0..<4 {
                    _ = try harness.sim.store.create(["metadata": ["name": .string("new-\(index)")]], .configMaps, namespace: "default")
                }
                _ = try await next(events) { isSynced($0) }
                let expected = Set(
                    try harness.sim.store.list(.configMaps, namespace: "default").items.compactMap { $0[path: "metadata", "name"]?.stringValue }.map {
                        "default/\($0)"
                    })
                #expect(Set(informer.snapshot().keys) == expected)
                #expect(informer.snapshot()["default/keep-0"] == nil, "deleted while not watching: no phantom")
            }
        }
    }

    @Test func serverRestartMidWatchConverges() async throws {
        var harness = try await SimHarness.start()
        let client = try KubeClient(configuration: harness.configuration())
        let informer = Informer<Pod, PodSummary>(
            client: client,
            resource: .pods,
            options: ListOptions(fieldSelector: "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"),
            backoff: Backoff(base: .milliseconds(50), cap: .milliseconds(200)),
            logger: logger,
            transform: PodSummary.init
        )
        try await withInformer(informer) { events in
            _ = try await next(events) { isSynced($0) }
            #expect(informer.snapshot().count == 5)

            await harness.stop()
            _ = try await next(events) { if case .connectionLost = $0 { return true } else { return false } }
            // While the server is down, pods change behind the informer's back.
            // Forced (grace 0): with no kubelet running, a graceful delete would leave it Terminating.
            _ = try harness.sim.store.delete(
                .pods, namespace: "kube-system", name: "coredns-5d78c9869d-4m2nb", options: DeletionOptions(gracePeriodSeconds: 0))
            try harness.sim.store.modify(.pods, namespace: "direktiv", name: "direktiv-api-7c8d9e6f5-q9w7e", subresource: "status") { pod in
                pod = pod.replacing(["status", "phase"], with: "Succeeded")
            }
            _ = try harness.sim.store.create(
                ["metadata": ["name": "late"], "spec": ["nodeName": "main-2", "containers": [["name": "c"]]], "status": ["phase": "Running"]], .pods,
                namespace: "default")
            harness = try await harness.restarted()
            _ = try await next(events) { if case .reconnected = $0 { return true } else { return false } }
            // Changes replay after the reconnect; wait for the last one.
            _ = try await next(events) { if case .added(let key, _) = $0 { return key == "default/late" } else { return false } }
            let keys = Set(informer.snapshot().keys)
            #expect(
                keys == [
                    "direktiv/direktiv-flow-6d9c7b5f4-x2k8p", "direktiv-services-direktiv/external1-greeter-00001-deployment-5b7d9c-h2j4k",
                    "direktiv-services-direktiv/external2-resize-00001-deployment-8f6a2b-p5r6t", "default/late",
                ])
        }
        try await client.shutdown()
        await harness.stop()
    }

    /// An informer re-watches the moment its watch ends; a graceful stop of the server must still
    /// finish, not wait for such a watch (the guard is shorter than the client's read timeout).
    @Test func gracefulServerStopIsNotHeldOpenByReconnectingWatches() async throws {
        let harness = try await SimHarness.start()
        let client = try harness.client()
        let informer = Informer<Node, Node>(
            client: client, resource: .nodes, backoff: Backoff(base: .milliseconds(10), cap: .milliseconds(20)), logger: logger)
        try await withInformer(informer) { events in
            _ = try await next(events) { isSynced($0) }
            try await withDeadline(.seconds(10)) { await harness.stopGracefully() }
            _ = try await next(events) { if case .connectionLost = $0 { return true } else { return false } }
        }
        try await client.shutdown()
    }

    @Test func runEndsOnGracefulShutdown() async throws {
        try await withSim { _, client in
            let informer = Informer<Node, Node>(client: client, resource: .nodes, logger: logger)
            let events = informer.subscribe()
            let group = ServiceGroup(configuration: .init(services: [informer], logger: logger))
            let task = Task { try await group.run() }
            _ = try await next(events) { isSynced($0) }
            await group.triggerGracefulShutdown()
            try await task.value
            var remaining = 0
            for await _ in events { remaining += 1 }
            #expect(remaining >= 0, "the subscription ends when the informer stops")
        }
    }
}

/// What the tests keep of a pod.
struct PodSummary: Sendable, Equatable {
    var node: String?
    var phase: String?
    init(_ pod: Pod) {
        node = pod.spec?.nodeName
        phase = pod.status?.phase
    }
}
