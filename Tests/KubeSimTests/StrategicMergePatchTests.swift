import KubeModels
import Testing

@testable import KubeSim

/// Strategic merge patch with plain values, each case as apimachinery's `strategicpatch`
/// applies it to the built-in kinds (merge keys from the `patchMergeKey` tags of `k8s.io/api`).
@Suite struct StrategicMergePatchTests {
    func apply(_ patch: JSONValue, to original: JSONValue, _ schema: PatchSchema = .pod) throws -> JSONValue {
        try StrategicMergePatch.apply(patch, to: original, schema: schema)
    }

    static let configuration: JSONValue = [
        "metadata": ["name": "direktiv-dispatch"],
        "webhooks": [
            [
                "name": "functions.direktiv-dispatch.io", "timeoutSeconds": 5,
                "rules": [["operations": ["CREATE", "UPDATE"], "apiGroups": ["serving.knative.dev"], "resources": ["services"]]],
            ],
            ["name": "other.example.io", "timeoutSeconds": 3],
        ],
    ]

    /// The defect `kubectl apply` of a changed MutatingWebhookConfiguration showed: the patch
    /// carries only the changed webhook's changed field, and its rules must stay.
    @Test func webhooksMergeByNameSoAnAppliedChangeKeepsTheRules() throws {
        let patch: JSONValue = [
            "$setElementOrder/webhooks": [["name": "functions.direktiv-dispatch.io"], ["name": "other.example.io"]],
            "webhooks": [["name": "functions.direktiv-dispatch.io", "timeoutSeconds": 10]],
        ]
        let result = try apply(patch, to: Self.configuration, .mutatingWebhookConfiguration)
        let webhooks = result["webhooks"]?.arrayValue ?? []
        #expect(webhooks.count == 2)
        #expect(webhooks.first?["timeoutSeconds"] == 10)
        #expect(webhooks.first?[path: "rules"] == Self.configuration["webhooks"]?[0]?["rules"])
        #expect(webhooks.last?["name"] == "other.example.io")
    }

    @Test func containersMergeByNameAndTheirEnvByName() throws {
        let pod: JSONValue = [
            "spec": [
                "containers": [
                    ["name": "app", "image": "a:1", "env": [["name": "A", "value": "1"], ["name": "B", "value": "2"]]],
                    ["name": "sidecar", "image": "s:1"],
                ],
                "tolerations": [["key": "x", "operator": "Exists"]],
            ]
        ]
        let patch: JSONValue = [
            "spec": [
                "containers": [["name": "app", "env": [["name": "B", "value": "3"], ["name": "C", "value": "4"]]]],
                // Tolerations carry no patch strategy: the list is replaced.
                "tolerations": [["key": "y", "operator": "Exists"]],
            ]
        ]
        let result = try apply(patch, to: pod)
        let containers = result[path: "spec", "containers"]?.arrayValue ?? []
        #expect(containers.count == 2)
        #expect(containers[0]["image"] == "a:1")
        #expect(containers[0]["env"] == [["name": "A", "value": "1"], ["name": "B", "value": "3"], ["name": "C", "value": "4"]])
        #expect(containers[1]["name"] == "sidecar")
        #expect(result[path: "spec", "tolerations"] == [["key": "y", "operator": "Exists"]])
    }

    @Test func directivesDeleteReplaceAndRetainKeys() throws {
        let pod: JSONValue = [
            "metadata": ["finalizers": ["a", "b"], "labels": ["x": "1", "y": "2"]],
            "spec": ["containers": [["name": "app", "image": "a:1"], ["name": "old", "image": "o:1"]]],
        ]
        // $patch: delete on an element, null on a map member, a primitive set union and removal.
        let result = try apply(
            [
                "metadata": ["labels": ["y": .null], "finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]],
                "spec": ["containers": [["name": "old", "$patch": "delete"]]],
            ], to: pod)
        #expect(result[path: "metadata", "labels"] == ["x": "1"])
        #expect(result[path: "metadata", "finalizers"] == ["b", "c"])
        #expect(result[path: "spec", "containers"] == [["name": "app", "image": "a:1"]])
        // $patch: replace on a list and on a map.
        let replaced = try apply(["spec": ["containers": [["name": "new", "image": "n:1"], ["$patch": "replace"]]]], to: pod)
        #expect(replaced[path: "spec", "containers"] == [["name": "new", "image": "n:1"]])
        let replacedMap = try apply(["metadata": ["labels": ["z": "3", "$patch": "replace"]]], to: pod)
        #expect(replacedMap[path: "metadata", "labels"] == ["z": "3"])
        // $retainKeys on a Deployment's strategy clears what the new strategy type does not have.
        let deployment: JSONValue = ["spec": ["strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": 1]]]]
        let recreated = try apply(
            ["spec": ["strategy": ["type": "Recreate", "$retainKeys": ["type"], "rollingUpdate": .null]]], to: deployment, .deployment)
        #expect(recreated[path: "spec", "strategy"] == ["type": "Recreate"])
    }

    @Test func malformedPatchesAreRefused() {
        #expect(throws: StrategicMergePatch.Failure.self) { try apply(["spec": ["containers": [["image": "no-name"]]]], to: [:]) }
        #expect(throws: StrategicMergePatch.Failure.self) { try apply(["metadata": ["labels": ["$patch": "sideways"]]], to: [:]) }
        #expect(throws: StrategicMergePatch.Failure.self) { try apply(.array([]), to: [:]) }
        #expect(throws: StrategicMergePatch.Failure.self) {
            try apply(["spec": ["strategy": ["type": "Recreate", "$retainKeys": ["rollingUpdate"]]]], to: [:], .deployment)
        }
    }
}
