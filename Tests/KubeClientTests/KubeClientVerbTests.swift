import Foundation
import KubeClient
import KubeModels
import KubeSim
import TestSupport
import Testing

@Suite struct KubeClientVerbTests {
    @Test func createGetUpdateDeleteWithRealStatusErrors() async throws {
        try await withSim { _, client in
            let created = try await client.create(configMap("settings", data: ["a": "1"]), .configMaps, namespace: "default")
            #expect(created.metadata.uid != nil)
            #expect(created.metadata.resourceVersion != nil)
            #expect(created.metadata.creationTimestamp?.hasSuffix("Z") == true)

            do {
                _ = try await client.create(configMap("settings"), .configMaps, namespace: "default")
                Issue.record("a second create must fail")
            } catch let error as KubeAPIError {
                #expect(error.isAlreadyExists)
                #expect(error.code == 409)
                #expect(error.reason == "AlreadyExists")
                #expect(error.message == "configmaps \"settings\" already exists")
            }

            var changed = created
            changed.data = ["a": "2"]
            let updated = try await client.update(changed, .configMaps, name: "settings", namespace: "default")
            #expect(updated.data == ["a": "2"])
            #expect(updated.metadata.resourceVersion != created.metadata.resourceVersion)

            // Writing from the old version is a conflict: optimistic concurrency.
            do {
                _ = try await client.update(changed, .configMaps, name: "settings", namespace: "default")
                Issue.record("a stale update must conflict")
            } catch let error as KubeAPIError {
                #expect(error.isConflict)
                #expect(error.message.contains("the object has been modified"))
            }

            let deleted = try await client.delete(.configMaps, name: "settings", namespace: "default")
            #expect(deleted[path: "metadata", "name"] == "settings")
            do {
                _ = try await client.get(ConfigMap.self, .configMaps, name: "settings", namespace: "default")
                Issue.record("the object must be gone")
            } catch let error as KubeAPIError {
                #expect(error.isNotFound)
                #expect(error.reason == "NotFound")
            }
        }
    }

    @Test func invalidObjectsAndUnknownNamespacesAreRefused() async throws {
        try await withSim { _, client in
            do {
                _ = try await client.create(configMap("Not_Valid"), .configMaps, namespace: "default")
                Issue.record("an invalid name must be refused")
            } catch let error as KubeAPIError {
                #expect(error.isInvalid)
                #expect(error.status.details?.causes?.first?.field == "metadata.name")
            }
            do {
                _ = try await client.create(configMap("x", namespace: "nowhere"), .configMaps, namespace: "nowhere")
                Issue.record("a missing namespace must be refused")
            } catch let error as KubeAPIError {
                #expect(error.isNotFound)
                #expect(error.message == "namespaces \"nowhere\" not found")
            }
            do {
                _ = try await client.get(
                    JSONValue.self, ResourceDescriptor(group: "example.com", version: "v1", resource: "widgets", kind: "Widget", isNamespaced: true),
                    name: "a", namespace: "default")
                Issue.record("an unknown resource must be refused")
            } catch let error as KubeAPIError {
                #expect(error.isNotFound)
            }
        }
    }

    @Test func conflictRetryReadsAgain() async throws {
        try await withSim { harness, client in
            _ = try await client.create(configMap("counter", data: ["n": "0"]), .configMaps, namespace: "default")
            var attempts = 0
            let result = try await client.updateRetryingOnConflict(ConfigMap.self, .configMaps, name: "counter", namespace: "default") { map in
                attempts += 1
                if attempts == 1 {
                    // Another writer gets in between this read and the write.
                    try harness.sim.store.modify(.configMaps, namespace: "default", name: "counter") { object in
                        object = .object((object.objectValue ?? [:]).merging(["data": ["n": "5", "other": "yes"]]) { $1 })
                    }
                }
                let n = Int(map.data?["n"] ?? "0") ?? 0
                map.data?["n"] = String(n + 1)
            }
            #expect(attempts == 2)
            #expect(result.data == ["n": "6", "other": "yes"], "the retry saw the other writer's change")
        }
    }

    @Test func retryGivesUpAfterTheLastAttempt() async throws {
        try await withSim { harness, client in
            _ = try await client.create(configMap("busy"), .configMaps, namespace: "default")
            await #expect(throws: KubeAPIError.self) {
                _ = try await client.updateRetryingOnConflict(ConfigMap.self, .configMaps, name: "busy", namespace: "default", attempts: 3) { map in
                    try harness.sim.store.modify(.configMaps, namespace: "default", name: "busy") { object in
                        object = .object((object.objectValue ?? [:]).merging(["data": ["t": .string(UUID().uuidString)]]) { $1 })
                    }
                    map.data = ["mine": "1"]
                }
            }
        }
    }

    @Test func labelAndFieldSelectors() async throws {
        try await withSim { _, client in
            for (name, labels) in [("a", ["app": "web", "tier": "front"]), ("b", ["app": "web", "tier": "back"]), ("c", ["app": "db"]), ("d", [:])] {
                _ = try await client.create(configMap(name, labels: labels), .configMaps, namespace: "default")
            }
            func names(_ selector: String) async throws -> [String] {
                try await client.list(ConfigMap.self, .configMaps, namespace: "default", options: ListOptions(labelSelector: selector)).items
                    .compactMap(\.metadata.name)
            }
            #expect(try await names("app=web") == ["a", "b"])
            #expect(try await names("app==web,tier!=back") == ["a"])
            #expect(try await names("app in (db, web)") == ["a", "b", "c"])
            #expect(try await names("app notin (web)") == ["c", "d"])
            #expect(try await names("tier") == ["a", "b"])
            #expect(try await names("!app") == ["d"])

            let pods = try await client.list(Pod.self, .pods, options: ListOptions(fieldSelector: "spec.nodeName=main-1,status.phase!=Succeeded"))
            #expect(pods.items.compactMap(\.metadata.name).sorted() == ["coredns-5d78c9869d-4m2nb", "direktiv-flow-6d9c7b5f4-x2k8p"])
            let byName = try await client.list(Node.self, .nodes, options: ListOptions(fieldSelector: "metadata.name=main-2"))
            #expect(byName.items.map(\.metadata.name) == ["main-2"])

            await #expect(throws: KubeAPIError.self) {
                _ = try await client.list(ConfigMap.self, .configMaps, namespace: "default", options: ListOptions(labelSelector: "app in web"))
            }
        }
    }

    @Test func pagingWithContinueTokens() async throws {
        try await withSim { _, client in
            for index in 0..<7 { _ = try await client.create(configMap("page-\(index)"), .configMaps, namespace: "default") }
            let first = try await client.list(ConfigMap.self, .configMaps, namespace: "default", options: ListOptions(limit: 3))
            #expect(first.items.count == 3)
            #expect(first.metadata?.continue?.isEmpty == false)
            let (all, version) = try await client.listAll(ConfigMap.self, .configMaps, namespace: "default", pageSize: 2)
            #expect(all.compactMap(\.metadata.name) == (0..<7).map { "page-\($0)" })
            #expect(!version.isEmpty)
        }
    }

    @Test func mergeJSONPatchAndServerSideApply() async throws {
        try await withSim { _, client in
            _ = try await client.create(configMap("patched", data: ["a": "1", "b": "2"]), .configMaps, namespace: "default")
            let merged = try await client.patch(
                ConfigMap.self, .configMaps, name: "patched", namespace: "default", patch: .merge(["data": ["a": "10", "b": .null]]))
            #expect(merged.data == ["a": "10"])

            let patched = try await client.patch(
                ConfigMap.self, .configMaps, name: "patched", namespace: "default",
                patch: .json([.add(JSONPointer(tokens: ["data", "c"]), "3"), JSONPatchOperation(op: .test, path: "/data/a", value: "10")])
            )
            #expect(patched.data == ["a": "10", "c": "3"])

            do {
                _ = try await client.patch(
                    ConfigMap.self, .configMaps, name: "patched", namespace: "default",
                    patch: .json([JSONPatchOperation(op: .test, path: "/data/a", value: "wrong")]))
                Issue.record("a failing test operation must be refused")
            } catch let error as KubeAPIError {
                #expect(error.isInvalid)
            }
            #expect(
                try await client.get(ConfigMap.self, .configMaps, name: "patched", namespace: "default").data == ["a": "10", "c": "3"],
                "a refused patch changes nothing")

            let applyDocument = """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: applied
                  namespace: default
                data:
                  mode: "fast"
                """
            let created = try await client.patch(
                ConfigMap.self, .configMaps, name: "applied", namespace: "default", patch: .apply(applyDocument, fieldManager: "tests"))
            #expect(created.data == ["mode": "fast"])
            let reapplied = try await client.patch(
                ConfigMap.self, .configMaps, name: "applied", namespace: "default",
                patch: .apply(applyDocument.replacingOccurrences(of: "fast", with: "slow"), fieldManager: "tests"))
            #expect(reapplied.data == ["mode": "slow"])
            #expect(reapplied.metadata.uid == created.metadata.uid)
        }
    }

    @Test func knativeServiceStatusSubresourceAndGeneration() async throws {
        try await withSim { _, client in
            let service: JSONValue = [
                "apiVersion": "serving.knative.dev/v1", "kind": "Service",
                "metadata": ["name": "hello", "namespace": "direktiv-services-direktiv"],
                "spec": ["template": ["spec": ["containers": [["image": "x"]]]]],
            ]
            let created = try await client.create(service, .knativeServices, namespace: "direktiv-services-direktiv")
            #expect(created[path: "metadata", "generation"] == 1)
            var withStatus = created
            withStatus = .object(
                (withStatus.objectValue ?? [:]).merging(["status": ["observedGeneration": 1, "conditions": [["type": "Ready", "status": "True"]]]]) {
                    $1
                })
            // A status write through the main resource is ignored...
            let ignored = try await client.update(withStatus, .knativeServices, name: "hello", namespace: "direktiv-services-direktiv")
            #expect(ignored["status"] == nil)
            // ...and lands through the status subresource, without bumping the generation.
            withStatus = .object((withStatus.objectValue ?? [:]).merging(["metadata": ignored["metadata"] ?? [:]]) { $1 })
            let ready = try await client.update(
                withStatus, .knativeServices, name: "hello", namespace: "direktiv-services-direktiv", subresource: "status")
            #expect(ready[path: "status", "observedGeneration"] == 1)
            #expect(ready[path: "metadata", "generation"] == 1)
            let typed = try await client.get(KnativeService.self, .knativeServices, name: "hello", namespace: "direktiv-services-direktiv")
            #expect(typed.isReady)

            let changed = try await client.patch(
                JSONValue.self, .knativeServices, name: "hello", namespace: "direktiv-services-direktiv",
                patch: .merge(["spec": ["template": ["metadata": ["labels": ["a": "b"]]]]]))
            #expect(changed[path: "metadata", "generation"] == 2, "a spec change bumps the generation")
            #expect(
                try await client.get(KnativeService.self, .knativeServices, name: "hello", namespace: "direktiv-services-direktiv").isReady == false,
                "observedGeneration now lags")
        }
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
