import DispatchCore
import KubeModels
import Testing

@Suite struct FunctionIdentityTests {
    let known = ["main", "external1", "external2", "team-a", "team-b", "team"]

    func read(_ object: JSONValue, _ kind: WorkloadKind = .knativeService, known: [String]? = nil) throws -> FunctionWorkload {
        try WorkloadReader.read(object, kind: kind, knownNamespaces: known ?? self.known, sizes: .direktivDefaults)
    }

    @Test func direktiv067UsesItsLabels() throws {
        let workload = try read(exampleJSON("direktiv/ksvc-0.6.7.json"))
        #expect(workload.identity.direktivNamespace == "team-a")
        #expect(workload.identity.function == "greeter")
        #expect(workload.identity.source == .direktivLabels)
        #expect(workload.identity.key == FunctionKey(namespace: "direktiv-services-direktiv", name: "namespace-team-a-greeter"))
        #expect(workload.requestPerPod == .cpu("100m", memory: "64M"))
        #expect(workload.requestSource == .containers)
        #expect(workload.replicas == 1)
    }

    @Test func direktiv0810ResolvesTheServiceIDLongestNamespaceFirst() throws {
        // "team" is also known and is a prefix of "team-a": the longer name must win.
        let workload = try read(exampleJSON("direktiv/ksvc-0.8.10.json"))
        #expect(workload.identity.direktivNamespace == "team-a")
        #expect(workload.identity.function == "greeter-flows-hello-yaml")
        #expect(workload.identity.source == .serviceID)
        #expect(workload.replicas == 1, "min-scale 0 still starts one pod")
    }

    @Test func direktiv010DeploymentUsesItsPodLabel() throws {
        let workload = try read(exampleJSON("direktiv/deployment-0.10.json"), .deployment)
        #expect(workload.identity.direktivNamespace == "team-b")
        #expect(workload.identity.source == .deploymentLabel)
        // Both containers request 100m/64M in 0.10.
        #expect(workload.requestPerPod == .cpu("200m", memory: "128M"))
        #expect(workload.replicas == 1)
    }

    @Test func explicitAnnotationWins() throws {
        guard case .object(var object) = try exampleJSON("direktiv/ksvc-0.6.7.json"), case .object(var metadata)? = object["metadata"] else {
            Issue.record("fixture is not an object")
            return
        }
        metadata["annotations"] = ["dispatch.direktiv.io/namespace": "gpu-team"]
        object["metadata"] = .object(metadata)
        let workload = try read(.object(object))
        #expect(workload.identity.direktivNamespace == "gpu-team")
        #expect(workload.identity.source == .annotation)
    }

    @Test(arguments: [
        ("team-a-greeter-flows-x-yaml-0123456789", "team-a", "greeter-flows-x-yaml"),
        ("team-greeter-flows-x-yaml-0123456789", "team", "greeter-flows-x-yaml"),
        ("my-ns-prod-fn-abcdef0123", "my_ns.prod", "fn"),
        ("external2-resize-9c8e7d6b5a", "external2", "resize"),
    ])
    func serviceIDs(id: String, namespace: String, remainder: String) {
        let resolved = FunctionIdentity.resolveServiceID(id, knownNamespaces: known + ["my_ns.prod"])
        #expect(resolved?.namespace == namespace)
        #expect(resolved?.remainder == remainder)
    }

    @Test func serviceIDCutInsideALongNamespaceStillResolves() {
        let namespace = "analytics-platform-data-ingestion-pipeline-production-eu"
        let text = String(DirektivNames.idText(namespace + "-fn-/flows/a.yaml").prefix(50))
        let resolved = FunctionIdentity.resolveServiceID(text + "-0a1b2c3d4e", knownNamespaces: [namespace, "analytics"])
        #expect(resolved?.namespace == namespace)
    }

    @Test func unknownNamespaceIsUnresolved() throws {
        let workload = try read(exampleJSON("direktiv/ksvc-0.8.10.json"), known: ["other"])
        #expect(workload.identity.direktivNamespace == nil)
        #expect(workload.identity.source == .unresolved)
    }

    @Test func idTextFollowsDirektiv() {
        #expect(DirektivNames.idText("Team_A/greeter//flows/hello.yaml") == "team-a-greeter-flows-hello-yaml")
    }

    @Test func sizeAndMinScaleWithoutContainerRequests() throws {
        let object: JSONValue = [
            "metadata": [
                "name": "namespace-12345", "namespace": "fns", "labels": ["direktiv.io/namespace-name": "main"],
                "annotations": ["direktiv.io/size": "2"],
            ],
            "spec": [
                "template": [
                    "metadata": ["annotations": ["autoscaling.knative.dev/min-scale": "3"]],
                    "spec": ["containers": [["name": "direktiv-container", "image": "x"]]],
                ]
            ],
        ]
        let workload = try read(object)
        #expect(workload.requestSource == .size(.large))
        #expect(workload.requestPerPod == SizeTable.direktivDefaults.large.requests)
        #expect(workload.replicas == 3)
    }

    @Test func limitsStandInForMissingRequests() throws {
        let object: JSONValue = [
            "metadata": ["name": "x", "labels": ["direktiv.io/namespace-name": "main"]],
            "spec": ["template": ["spec": ["containers": [["name": "c", "resources": ["limits": ["cpu": "2", "memory": "1Gi"]]]]]]],
        ]
        #expect(try read(object).requestPerPod == .cpu("2", memory: "1Gi"))
    }

    @Test func badObjectsAreErrors() {
        #expect(throws: WorkloadError.notAnObject) { try read("text") }
        #expect(throws: WorkloadError.missingName) { try read(["metadata": ["namespace": "x"]]) }
        let badQuantity: JSONValue = [
            "metadata": ["name": "x"],
            "spec": ["template": ["spec": ["containers": [["name": "c", "resources": ["requests": ["cpu": "lots"]]]]]]],
        ]
        #expect(throws: WorkloadError.self) { try read(badQuantity) }
    }

    @Test func earlierPlacementIsRead() throws {
        let object: JSONValue = ["metadata": ["name": "x", "annotations": ["dispatch.direktiv.io/cluster": "external2"]]]
        #expect(try read(object).placedCluster == "external2")
    }
}
