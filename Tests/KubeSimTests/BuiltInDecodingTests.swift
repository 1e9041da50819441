import KubeModels
import Testing

@testable import KubeSim

/// Strict decoding of built-in kinds at every depth, with the fields of Kubernetes 1.32's types
/// (apimachinery's strict JSON decoding: `unknown field "<path>"`).
struct BuiltInDecodingTests {
    let deployment: JSONValue = [
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "fn", "labelz": ["a": "b"]],
        "spec": [
            "selector": ["matchLabels": ["app": "fn"]],
            "template": [
                "metadata": ["labels": ["app": "fn"]],
                "spec": [
                    "containers": [["name": "c", "image": "x", "imagee": "typo", "env": [["name": "A", "valu": "1"]]]],
                    "affinity": [
                        "nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [["matchExpression": []]]]]
                    ],
                ],
            ],
        ],
    ]

    @Test func unknownFieldsAtAnyDepthAreNamedAndDropped() throws {
        var warnings: [String] = []
        let decoded = try BuiltInDecoding.decoded(deployment, .deployments, fieldValidation: .warn, warnings: &warnings)
        #expect(
            warnings == [
                "unknown field \"metadata.labelz\"",
                "unknown field \"spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpression\"",
                "unknown field \"spec.template.spec.containers[0].env[0].valu\"",
                "unknown field \"spec.template.spec.containers[0].imagee\"",
            ])
        #expect(decoded[path: "spec", "template", "spec", "containers"]?.arrayValue?.first?["imagee"] == nil)
        #expect(decoded[path: "spec", "template", "spec", "containers"]?.arrayValue?.first?["image"] == "x")
        #expect(throws: Status.self) { try BuiltInDecoding.decoded(deployment, .deployments, fieldValidation: .strict, warnings: &warnings) }
        var none: [String] = []
        _ = try BuiltInDecoding.decoded(deployment, .deployments, fieldValidation: .ignore, warnings: &none)
        #expect(none.isEmpty)
    }

    /// Maps keep every key (labels, data, resources); free-form fields (a CRD schema's
    /// `default`, a webhook's `fieldsV1`) are not looked into.
    @Test func mapsAndFreeFormFieldsAreNotPruned() throws {
        var warnings: [String] = []
        let configMap: JSONValue = [
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c", "labels": ["any-key": "v"]], "data": ["k": "v"],
        ]
        #expect(try BuiltInDecoding.decoded(configMap, .configMaps, fieldValidation: .strict, warnings: &warnings) == configMap)
        #expect(BuiltInDecoding.model(.knativeServices) == nil, "custom resources are decoded by their own schema")
        #expect(BuiltInDecoding.model(.pods) == "V1Pod")
    }
}
