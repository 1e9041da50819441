import Foundation
import KubeClient
import KubeModels
import Synchronization
import TestSupport
import Testing

@testable import KubeSim

/// CustomResourceDefinitions through the API, as the API server serves them
/// (apiextensions-apiserver: the CRD's validation, the customresource handler's decoding with
/// pruning and defaulting, its schema validation, the status subresource strategy).
@Suite struct CustomResourceTests {
    static let group = "dispatch.example.io"
    static let definitions = ResourceDescriptor(
        group: "apiextensions.k8s.io", version: "v1", resource: "customresourcedefinitions", kind: "CustomResourceDefinition", isNamespaced: false)
    static let placements = ResourceDescriptor(group: group, version: "v1alpha1", resource: "placements", kind: "Placement", isNamespaced: true)
    static let namespace = Scenario.functionsNamespace

    /// A definition shaped like the placements the agent will store.
    static func definition(name: String = "placements.\(group)", storageVersions: [Bool] = [true]) -> JSONValue {
        [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": .string(name)],
            "spec": [
                "group": .string(group), "scope": "Namespaced",
                "names": ["plural": "placements", "singular": "placement", "kind": "Placement", "shortNames": ["pl"]],
                "versions": .array(
                    storageVersions.enumerated().map { index, storage in
                        [
                            "name": .string(index == 0 ? "v1alpha1" : "v1alpha\(index + 1)"), "served": true, "storage": .bool(storage),
                            "subresources": ["status": [:]],
                            "additionalPrinterColumns": [
                                ["name": "Cluster", "type": "string", "jsonPath": ".spec.cluster"],
                                ["name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"],
                                ["name": "Reason", "type": "string", "priority": 1, "jsonPath": ".status.reason"],
                            ],
                            "schema": [
                                "openAPIV3Schema": [
                                    "type": "object",
                                    "properties": [
                                        "spec": [
                                            "type": "object", "required": ["cluster"],
                                            "properties": [
                                                "cluster": ["type": "string", "minLength": 1, "description": "The decided cluster."],
                                                "outcome": ["type": "string", "enum": ["placed", "kept", "fallback"], "default": "placed"],
                                            ],
                                        ],
                                        "status": [
                                            "type": "object",
                                            "properties": [
                                                "reason": ["type": "string"],
                                                "conditions": [
                                                    "type": "array",
                                                    "items": [
                                                        "type": "object", "required": ["type", "status"],
                                                        "properties": [
                                                            "type": ["type": "string"],
                                                            "status": ["type": "string", "enum": ["True", "False", "Unknown"]],
                                                        ],
                                                    ],
                                                ],
                                            ],
                                        ],
                                    ],
                                ]
                            ],
                        ]
                    }),
            ],
        ]
    }

    static func placement(_ name: String, cluster: JSONValue = "external1", extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: [String: JSONValue] = ["cluster": cluster]
        for (key, value) in extra { spec[key] = value }
        return ["apiVersion": .string("\(group)/v1alpha1"), "kind": "Placement", "metadata": ["name": .string(name)], "spec": .object(spec)]
    }

    func invalid(_ body: () async throws -> Void) async throws -> KubeAPIError {
        do {
            try await body()
        } catch let error as KubeAPIError {
            return error
        }
        throw HarnessError("the request was accepted")
    }

    @Test func aDefinitionIsEstablishedAndServesValidatedDefaultedObjects() async throws {
        let warnings = Mutex<[String]>([])
        try await withSim(scenario: .seed) { harness, _ in
            let client = try harness.client(onWarning: { warning in warnings.withLock { $0.append(warning) } })
            defer { Task { try? await client.shutdown() } }
            let created = try await client.create(Self.definition(), Self.definitions)
            #expect(created[path: "status", "acceptedNames", "kind"] == "Placement")
            let established = created[path: "status", "conditions"]?.arrayValue?.first { $0["type"] == "Established" }
            #expect(established?["status"] == "True")

            // Defaults filled in; an unknown field dropped and reported as a warning (the server's
            // default fieldValidation is Warn).
            let stored = try await client.create(Self.placement("fn", extra: ["typo": 1]), Self.placements, namespace: Self.namespace)
            #expect(stored[path: "spec", "outcome"] == "placed")
            #expect(stored[path: "spec", "typo"] == nil)
            #expect(stored[path: "metadata", "generation"] == 1)
            #expect(warnings.withLock { $0 }.contains { $0.contains("unknown field \"spec.typo\"") })

            // Refused with the schema's errors, and nothing stored.
            let missing = try await invalid {
                _ = try await client.create(Self.placement("bad", cluster: ""), Self.placements, namespace: Self.namespace)
            }
            #expect(missing.code == 422)
            #expect(missing.message.contains("Placement.dispatch.example.io \"bad\" is invalid"), "\(missing.message)")
            #expect(missing.status.details?.causes?.first?.field == "spec.cluster")
            let wrongType = try await invalid {
                _ = try await client.create(Self.placement("bad", cluster: 3), Self.placements, namespace: Self.namespace)
            }
            #expect(wrongType.message.contains("spec.cluster in body must be of type string"), "\(wrongType.message)")
            let badEnum = try await invalid {
                _ = try await client.create(Self.placement("bad", extra: ["outcome": "moved"]), Self.placements, namespace: Self.namespace)
            }
            #expect(badEnum.message.contains("Unsupported value: \"moved\""), "\(badEnum.message)")
            let list = try await client.list(JSONValue.self, Self.placements, namespace: Self.namespace)
            #expect(list.items.count == 1)
        }
    }

    @Test func theStatusSubresourceSplitsWritesAndOnlySpecBumpsGeneration() async throws {
        try await withSim(scenario: .seed) { _, client in
            _ = try await client.create(Self.definition(), Self.definitions)
            let created = try await client.create(Self.placement("fn"), Self.placements, namespace: Self.namespace)
            // Status sent to the main resource is ignored.
            var withStatus = created.setting("status", ["reason": "placed on external1"])
            let ignored = try await client.update(withStatus, Self.placements, name: "fn", namespace: Self.namespace)
            #expect(ignored["status"] == nil)
            // Through /status it is kept, checked against the schema, and generation stays.
            withStatus = ignored.setting("status", ["reason": "placed", "conditions": [["type": "Ready", "status": "True"]]])
            let statused = try await client.update(withStatus, Self.placements, name: "fn", namespace: Self.namespace, subresource: "status")
            #expect(statused[path: "status", "reason"] == "placed")
            #expect(statused[path: "metadata", "generation"] == 1)
            let badStatus = try await invalid {
                _ = try await client.update(
                    statused.setting("status", ["conditions": [["type": "Ready", "status": "Yes"]]]), Self.placements, name: "fn",
                    namespace: Self.namespace, subresource: "status")
            }
            #expect(badStatus.code == 422)
            #expect(badStatus.status.details?.causes?.first?.field == "status.conditions[0].status")
            // A spec change bumps generation.
            let moved = try await client.patch(
                JSONValue.self, Self.placements, name: "fn", namespace: Self.namespace, patch: .merge(["spec": ["cluster": "external2"]]))
            #expect(moved[path: "metadata", "generation"] == 2)
            #expect(moved[path: "status", "reason"] == "placed")
            // A merge patch is held to the schema too.
            let badPatch = try await invalid {
                _ = try await client.patch(
                    JSONValue.self, Self.placements, name: "fn", namespace: Self.namespace, patch: .merge(["spec": ["cluster": .null]]))
            }
            #expect(badPatch.code == 422)
        }
    }

    @Test func invalidDefinitionsAreRefusedAndDeletingOneRemovesItsObjects() async throws {
        try await withSim(scenario: .seed) { _, client in
            let misnamed = try await invalid { _ = try await client.create(Self.definition(name: "placements.other.io"), Self.definitions) }
            #expect(misnamed.code == 422)
            #expect(misnamed.message.contains("metadata.name"), "\(misnamed.message)")
            let twoStorage = try await invalid { _ = try await client.create(Self.definition(storageVersions: [true, true]), Self.definitions) }
            #expect(twoStorage.message.contains("must have exactly one version marked as storage version"), "\(twoStorage.message)")
            let twoServed = try await invalid { _ = try await client.create(Self.definition(storageVersions: [true, false]), Self.definitions) }
            #expect(twoServed.message.contains("KubeSim serves one version per definition"), "\(twoServed.message)")
            let untyped = try await invalid {
                _ = try await client.create(
                    Self.definition().replacing(
                        ["spec", "versions"],
                        with: [
                            [
                                "name": "v1alpha1", "served": true, "storage": true,
                                "schema": ["openAPIV3Schema": ["type": "object", "properties": ["spec": [:]]]],
                            ]
                        ]),
                    Self.definitions)
            }
            #expect(untyped.message.contains("must not be empty for specified object fields"), "\(untyped.message)")

            _ = try await client.create(Self.definition(), Self.definitions)
            _ = try await client.create(Self.placement("fn"), Self.placements, namespace: Self.namespace)
            try await client.delete(Self.definitions, name: "placements.\(Self.group)")
            let gone = try await invalid { _ = try await client.get(JSONValue.self, Self.placements, name: "fn", namespace: Self.namespace) }
            #expect(gone.code == 404)
            // Created again, the definition starts empty: its objects went with it.
            _ = try await client.create(Self.definition(), Self.definitions)
            #expect(try await client.list(JSONValue.self, Self.placements, namespace: Self.namespace).items.isEmpty)
        }
    }

    /// The CRD finalizer: a definition whose instance carries a finalizer stays Terminating
    /// (with the cleanup finalizer), takes no new instances (405), and goes once that finalizer
    /// is removed, as the API server's CRD finalizer controller does it.
    @Test func anInstanceWithAFinalizerHoldsItsDefinitionsDeletion() async throws {
        try await withSim(scenario: .seed) { _, client in
            let created = try await client.create(Self.definition(), Self.definitions)
            #expect(created[path: "metadata", "finalizers"] == ["customresourcecleanup.apiextensions.k8s.io"])
            let held = Self.placement("held").setting("metadata", ["name": "held", "finalizers": ["dispatch.example.io/keep"]])
            _ = try await client.create(held, Self.placements, namespace: Self.namespace)
            try await client.delete(Self.definitions, name: "placements.\(Self.group)")
            let terminating = try await client.get(JSONValue.self, Self.definitions, name: "placements.\(Self.group)")
            #expect(terminating[path: "metadata", "deletionTimestamp"] != nil)
            #expect(terminating[path: "status", "conditions"]?.arrayValue?.contains { $0["type"] == "Terminating" && $0["status"] == "True" } == true)
            let instance = try await client.get(JSONValue.self, Self.placements, name: "held", namespace: Self.namespace)
            #expect(instance[path: "metadata", "deletionTimestamp"] != nil)
            let refused = try await invalid { _ = try await client.create(Self.placement("late"), Self.placements, namespace: Self.namespace) }
            #expect(refused.code == 405)

            _ = try await client.patch(
                JSONValue.self, Self.placements, name: "held", namespace: Self.namespace, patch: .merge(["metadata": ["finalizers": .null]]))
            let gone = try await invalid { _ = try await client.get(JSONValue.self, Self.definitions, name: "placements.\(Self.group)") }
            #expect(gone.code == 404)
        }
    }

    @Test func knativeServicesAreHeldToKnativesOwnSchema() async throws {
        try await withSim(scenario: .seed) { _, client in
            let noContainers: JSONValue = [
                "apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": ["name": "fn"], "spec": ["template": ["spec": [:]]],
            ]
            let refused = try await invalid { _ = try await client.create(noContainers, .knativeServices, namespace: Self.namespace) }
            #expect(refused.code == 422)
            #expect(refused.message.contains("spec.template.spec.containers: Required value"), "\(refused.message)")

            let withTypo = noContainers.replacing(
                ["spec", "template", "spec"], with: ["containers": [["image": "direktiv/hello", "imagePullPolize": "Always"]]])
            let stored = try await client.create(withTypo, .knativeServices, namespace: Self.namespace)
            #expect(stored[path: "spec", "template", "spec", "containers"]?[0]?["imagePullPolize"] == nil)
            #expect(stored[path: "spec", "template", "spec", "containers"]?[0]?["image"] == "direktiv/hello")
        }
    }

    @Test func bundledDefinitionsMatchTheFilesUnderSchemas() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for (path, text) in BundledDefinitions.files {
            let onDisk = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            #expect(onDisk == text, "\(path) changed: run scripts/embed-schemas.sh")
        }
        let schemas = root.appendingPathComponent("schemas")
        let onDisk = (FileManager.default.enumerator(atPath: schemas.path)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".yaml") }
        let crds = root.appendingPathComponent("charts/direktiv-dispatch/files/crds")
        let chartCRDs = (try? FileManager.default.contentsOfDirectory(atPath: crds.path))?.filter { $0.hasSuffix(".yaml") } ?? []
        #expect(
            Set(onDisk.map { "schemas/" + $0 } + chartCRDs.map { "charts/direktiv-dispatch/files/crds/" + $0 })
                == Set(BundledDefinitions.files.map(\.path)), "a file under schemas/ or the chart's files/crds is not embedded")
        #expect(KubeSim.bundledDefinitions.count == BundledDefinitions.files.count)
    }
}
