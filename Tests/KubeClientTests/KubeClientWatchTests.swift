import Foundation
import KubeClient
import KubeModels
import KubeSim
import NIOCore
import TestSupport
import Testing

@Suite struct KubeClientWatchTests {
    @Test func watchDeliversEventsFromAVersion() async throws {
        try await withSim { _, client in
            let start = try await client.list(ConfigMap.self, .configMaps, namespace: "default").metadata?.resourceVersion
            let stream = try await client.watch(
                ConfigMap.self, .configMaps, namespace: "default", options: ListOptions(resourceVersion: start), timeoutSeconds: 30)
            _ = try await client.create(configMap("w1"), .configMaps, namespace: "default")
            _ = try await client.patch(ConfigMap.self, .configMaps, name: "w1", namespace: "default", patch: .merge(["data": ["k": "v"]]))
            _ = try await client.delete(.configMaps, name: "w1", namespace: "default")
            var kinds: [String] = []
            for try await event in stream {
                kinds.append(event.type)
                if case .deleted(let map) = event {
                    #expect(map.metadata.name == "w1")
                    break
                }
            }
            #expect(kinds == ["ADDED", "MODIFIED", "DELETED"])
        }
    }

    @Test func bookmarksAdvanceTheVersion() async throws {
        var options = KubeSim.Options()
        options.bookmarkInterval = .milliseconds(100)
        try await withSim(options: options) { harness, client in
            let version = harness.sim.store.currentResourceVersion
            let stream = try await client.watch(Node.self, .nodes, options: ListOptions(resourceVersion: version), timeoutSeconds: 30)
            _ = try await client.create(configMap("elsewhere"), .configMaps, namespace: "default")
            let created = try await client.get(ConfigMap.self, .configMaps, name: "elsewhere", namespace: "default")
            let createdVersion = Int(created.metadata.resourceVersion ?? "0")!
            var bookmarks = 0
            // A nodes watch sees no configmap event; its bookmarks still move past the configmap's version.
            for try await event in stream {
                guard case .bookmark(let bookmark) = event else { continue }
                bookmarks += 1
                if Int(bookmark)! >= createdVersion { break }
            }
            #expect(bookmarks >= 1)
        }
    }

    @Test func tooOldVersionEndsWithGone() async throws {
        var options = KubeSim.Options()
        options.eventWindow = 3
        try await withSim(options: options) { harness, client in
            let old = harness.sim.store.currentResourceVersion
            for index in 0..<5 { _ = try await client.create(configMap("churn-\(index)"), .configMaps, namespace: "default") }
            let stream = try await client.watch(
                ConfigMap.self, .configMaps, namespace: "default", options: ListOptions(resourceVersion: old), timeoutSeconds: 30)
            var sawGone = false
            for try await event in stream {
                if case .error(let status) = event {
                    #expect(status.code == 410)
                    #expect(status.reason == "Expired")
                    sawGone = true
                }
            }
            #expect(sawGone)

            harness.sim.failNextWatch(with: .failure(410, .gone, "watch too old"))
            do {
                _ = try await client.watch(ConfigMap.self, .configMaps, namespace: "default", options: ListOptions(resourceVersion: old))
                Issue.record("expected 410 as an HTTP status")
            } catch let error as KubeAPIError {
                #expect(error.isGone)
            }
        }
    }

    @Test func selectorTransitionsAppearAsAddedAndDeleted() async throws {
        try await withSim { harness, client in
            let version = harness.sim.store.currentResourceVersion
            let stream = try await client.watch(
                ConfigMap.self, .configMaps, namespace: "default", options: ListOptions(labelSelector: "watched=yes", resourceVersion: version),
                timeoutSeconds: 30)
            _ = try await client.create(configMap("moves"), .configMaps, namespace: "default")
            _ = try await client.patch(
                ConfigMap.self, .configMaps, name: "moves", namespace: "default", patch: .merge(["metadata": ["labels": ["watched": "yes"]]]))
            _ = try await client.patch(
                ConfigMap.self, .configMaps, name: "moves", namespace: "default", patch: .merge(["metadata": ["labels": ["watched": "no"]]]))
            var kinds: [String] = []
            for try await event in stream {
                kinds.append(event.type)
                if kinds.count == 2 { break }
            }
            #expect(kinds == ["ADDED", "DELETED"])
        }
    }
}
