import DispatchCore
import Foundation
import KubeModels
import Testing

@Suite struct PlacementPatchTests {
    let settings = PatchSettings()

    func place(
        _ object: JSONValue, on cluster: String, namespace: String? = "team-a", settings: PatchSettings? = nil
    ) throws -> (operations: [JSONPatchOperation], result: JSONValue) {
        let operations = PlacementPatch.operations(for: object, cluster: cluster, direktivNamespace: namespace, settings: settings ?? self.settings)
        return (operations, try JSONPatch.apply(operations, to: object))
    }

    func requiredTerms(_ object: JSONValue) -> [JSONValue] {
        object[path: "spec", "template", "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]?
            .arrayValue ?? []
    }

    func expressions(_ term: JSONValue) -> [JSONValue] {
        term["matchExpressions"]?.arrayValue ?? []
    }

    /// Applying twice changes nothing, and the patch for a placed object is empty.
    func expectIdempotent(
        _ object: JSONValue, operations: [JSONPatchOperation], result: JSONValue, cluster: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(try JSONPatch.apply(operations, to: result) == result, sourceLocation: sourceLocation)
        #expect(
            PlacementPatch.operations(for: result, cluster: cluster, direktivNamespace: "team-a", settings: settings).isEmpty,
            sourceLocation: sourceLocation)
    }

    @Test func direktiv0810EmptyAffinity() throws {
        let object = try exampleJSON("direktiv/ksvc-0.8.10.json")
        let (operations, result) = try place(object, on: "external1")
        let terms = requiredTerms(result)
        #expect(terms.count == 1)
        #expect(expressions(terms[0]) == [PlacementPatch.expression(clusterLabel: "direktiv.io/namespace", cluster: "external1")])
        #expect(
            result[path: "spec", "template", "spec", "tolerations"] == [
                ["key": "virtual-node.liqo.io/not-allowed", "operator": "Exists", "effect": "NoExecute"]
            ])
        #expect(result[path: "metadata", "annotations", "dispatch.direktiv.io/cluster"] == "external1")
        #expect(result[path: "metadata", "annotations", "dispatch.direktiv.io/namespace"] == "team-a")
        #expect(result[path: "metadata", "annotations", "direktiv.io/inputHash"] == "8e5b2c1f3a9d4e7b", "Direktiv's own annotations stay")
        #expect(result[path: "spec", "template", "metadata", "labels", "dispatch.direktiv.io/cluster"] == "external1")
        #expect(result[path: "spec", "template", "metadata", "labels", "direktiv-app"] == "direktiv")
        #expect(operations.allSatisfy { $0.op == .add })
        try expectIdempotent(object, operations: operations, result: result, cluster: "external1")
        try writeArtifact(result, name: "ksvc-0.8.10-external1")
    }

    @Test func direktiv067HandWrittenAffinityIsReplaced() throws {
        let object = try exampleJSON("direktiv/ksvc-0.6.7.json")
        let (operations, result) = try place(object, on: "external2")
        let terms = requiredTerms(result)
        #expect(terms.count == 1)
        #expect(expressions(terms[0]) == [PlacementPatch.expression(clusterLabel: "direktiv.io/namespace", cluster: "external2")])
        try expectIdempotent(object, operations: operations, result: result, cluster: "external2")
        try writeArtifact(result, name: "ksvc-0.6.7-external2")
    }

    @Test func expressionIsAndedIntoEveryTerm() throws {
        let object: JSONValue = [
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": ["name": "fn", "namespace": "direktiv-services-direktiv"],
            "spec": [
                "template": [
                    "spec": [
                        "containers": [["image": "x"]],
                        "affinity": [
                            "nodeAffinity": [
                                "requiredDuringSchedulingIgnoredDuringExecution": [
                                    "nodeSelectorTerms": [
                                        ["matchExpressions": [["key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]]]],
                                        ["matchFields": [["key": "metadata.name", "operator": "NotIn", "values": ["bad-node"]]]],
                                    ]
                                ],
                                "preferredDuringSchedulingIgnoredDuringExecution": [
                                    ["weight": 1, "preference": ["matchExpressions": [["key": "zone", "operator": "In", "values": ["a"]]]]]
                                ],
                            ]
                        ],
                        "tolerations": [["key": "virtual-node.liqo.io/not-allowed", "operator": "Exists", "effect": "NoExecute"]],
                    ]
                ]
            ],
        ]
        let (operations, result) = try place(object, on: "main")
        let terms = requiredTerms(result)
        #expect(terms.count == 2)
        #expect(expressions(terms[0]).count == 2)
        #expect(expressions(terms[0]).first?["key"] == "kubernetes.io/arch")
        #expect(expressions(terms[1]) == [PlacementPatch.expression(clusterLabel: "direktiv.io/namespace", cluster: "main")])
        #expect(terms[1]["matchFields"] != nil)
        #expect(result[path: "spec", "template", "spec", "affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"] != nil)
        #expect(result[path: "spec", "template", "spec", "tolerations"]?.arrayValue?.count == 1, "the Liqo toleration is not added twice")
        try expectIdempotent(object, operations: operations, result: result, cluster: "main")
        try writeArtifact(result, name: "ksvc-two-terms-main")
    }

    @Test func replacingWithAnotherClusterReplacesTheExpression() throws {
        let (_, first) = try place(try exampleJSON("direktiv/ksvc-0.8.10.json"), on: "external1")
        let (_, second) = try place(first, on: "external2")
        #expect(expressions(requiredTerms(second)[0]) == [PlacementPatch.expression(clusterLabel: "direktiv.io/namespace", cluster: "external2")])
        #expect(second[path: "metadata", "annotations", "dispatch.direktiv.io/cluster"] == "external2")
        #expect(second[path: "spec", "template", "spec", "tolerations"]?.arrayValue?.count == 1)
    }

    @Test func missingTemplateParentsAreCreated() throws {
        let object: JSONValue = [
            "apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": ["name": "bare"],
            "spec": ["template": ["spec": ["containers": [["image": "x"]]]]],
        ]
        let (operations, result) = try place(object, on: "main", namespace: nil)
        #expect(result[path: "metadata", "annotations"] == ["dispatch.direktiv.io/cluster": "main"])
        #expect(result[path: "spec", "template", "metadata", "labels", "dispatch.direktiv.io/cluster"] == "main")
        #expect(requiredTerms(result).count == 1)
        #expect(try JSONPatch.apply(operations, to: result) == result)
        try writeArtifact(result, name: "ksvc-bare-main")

        let noSpec: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "d"]]
        let (again, created) = try place(noSpec, on: "main")
        #expect(requiredTerms(created).count == 1)
        #expect(try JSONPatch.apply(again, to: created) == created)
    }

    /// Defect 8 of the hardening review: without `spec.template` the patch said
    /// `add /spec/template {}` twice, the second wiping the pod label the first had set.
    @Test func eachPathIsWrittenOnceAndTheLabelSurvives() throws {
        for object: JSONValue in [
            ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "d"]],
            ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "d"], "spec": ["replicas": 1]],
            ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "d"], "spec": ["template": "not an object"]],
        ] {
            let (operations, result) = try place(object, on: "external1")
            let paths = operations.map(\.path)
            #expect(Set(paths).count == paths.count, "\(paths)")
            #expect(result[path: "spec", "template", "metadata", "labels", "dispatch.direktiv.io/cluster"] == "external1")
            #expect(requiredTerms(result).count == 1)
            try expectIdempotent(object, operations: operations, result: result, cluster: "external1")
        }
    }

    /// Defect 8: values copied from the user's object were rewritten (`1e999` became `null`,
    /// `12345678901234567890` a float). Copied values keep their JSON text.
    @Test func copiedValuesKeepTheirOriginalText() throws {
        let text = #"""
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{
            "tolerations":[{"key":"a","operator":"Exists","tolerationSeconds":12345678901234567890,"x":1e999,"y":1e-999,"z":0.1000000000000000055511151231257827}],
            "affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[],"weight":-98765432109876543210}]}}}}}}}
            """#
        let object = try JSONValue.parse(Array(text.utf8))
        let (operations, _) = try place(object, on: "main")
        let written = String(decoding: JSONValue.array(operations.map(\.json)).jsonBytes, as: UTF8.self)
        for number in ["12345678901234567890", "1e999", "1e-999", "0.1000000000000000055511151231257827", "-98765432109876543210"] {
            #expect(written.contains(":\(number)"), "\(number) in \(written)")
        }
        #expect(!written.contains("null"))
    }

    @Test func direktiv010Deployment() throws {
        let object = try exampleJSON("direktiv/deployment-0.10.json")
        let (operations, result) = try place(object, on: "external1", namespace: "team-b")
        #expect(expressions(requiredTerms(result)[0]).count == 1)
        #expect(
            result[path: "spec", "template", "metadata", "labels", "direktiv-service"]
                == object[path: "spec", "template", "metadata", "labels", "direktiv-service"])
        #expect(result[path: "spec", "template", "metadata", "labels", "dispatch.direktiv.io/cluster"] == "external1")
        #expect(try JSONPatch.apply(operations, to: result) == result)
    }

    @Test func tolerationCanBeSwitchedOff() throws {
        let (_, result) = try place(try exampleJSON("direktiv/ksvc-0.8.10.json"), on: "external1", settings: PatchSettings(addLiqoToleration: false))
        #expect(result[path: "spec", "template", "spec", "tolerations"] == nil)
    }

    @Test func wildcardTolerationCountsAsPresent() throws {
        let object: JSONValue = ["metadata": ["name": "x"], "spec": ["template": ["spec": ["tolerations": [["operator": "Exists"]]]]]]
        let (_, result) = try place(object, on: "external1")
        #expect(result[path: "spec", "template", "spec", "tolerations"]?.arrayValue?.count == 1)
    }

    @Test func customClusterLabel() throws {
        let settings = PatchSettings(clusterLabel: "topology.example.com/cluster")
        let (_, result) = try place(try exampleJSON("direktiv/ksvc-0.6.7.json"), on: "gpu", settings: settings)
        let all = expressions(requiredTerms(result)[0])
        #expect(all.count == 2, "the old direktiv.io/namespace expression stays: it is not the configured label")
        #expect(all.last == PlacementPatch.expression(clusterLabel: "topology.example.com/cluster", cluster: "gpu"))
    }
}

/// Writes a patched Knative Service for `.ci/run` to validate against Knative's CRD schema.
func writeArtifact(_ object: JSONValue, name: String) throws {
    let directory =
        ProcessInfo.processInfo.environment["DISPATCH_TEST_ARTIFACTS"].map { URL(fileURLWithPath: $0) }
        ?? repositoryRoot.appendingPathComponent("test-artifacts")
    let knative = directory.appendingPathComponent("knative")
    try FileManager.default.createDirectory(at: knative, withIntermediateDirectories: true)
    try object.encoded(pretty: true).write(to: knative.appendingPathComponent("\(name).json"))
}
