import DispatchAgent
import DispatchCore
import DispatchMetrics
import DispatchProxy
import Foundation
import Hummingbird
import HummingbirdTesting
import KubeModels
import Logging
import Metrics
import MetricsTestKit
import NIOCore
import TestSupport
import Testing

/// The webhook's HTTP surface and admission logic, without TLS or a cluster.
@Suite struct AdmissionControllerTests {
    let metricsFactory = TestMetrics()

    func controller(rules: Rules? = nil) throws -> (AdmissionController, AgentState) {
        let rules = try rules ?? RulesParser.parse(exampleRulesText())
        let state = AgentState(rules: rules)
        let nodes = try JSONDecoder().decode(
            KubeList<Node>.self, from: Data(contentsOf: repositoryRoot.appendingPathComponent("examples/seed-nodes.json"))
        ).items
        let inventory = ClusterInventory(nodes: nodes, pods: [], clusterLabel: rules.clusterLabel, toleratedTaintKeys: [rules.liqo.taintKey])
        let metrics = DispatchMetrics(factory: metricsFactory)
        let placer = Placer(state: state, inventory: { inventory }, metrics: metrics, logger: Logger(label: "admission-test"))
        return (AdmissionController(placer: placer, state: state, metrics: metrics), state)
    }

    func review(
        _ object: JSONValue?, operation: String = "CREATE", kind: GroupVersionKind = .knativeService,
        namespace: String = "direktiv-services-direktiv", oldObject: JSONValue? = nil, dryRun: Bool = false, uid: String = "0b9f6a3c-1"
    ) -> Data {
        let request = AdmissionReview.Request(
            uid: uid, kind: kind,
            resource: GroupVersionResource(group: kind.group, version: kind.version, resource: kind == .deployment ? "deployments" : "services"),
            name: object?[path: "metadata", "name"]?.stringValue, namespace: namespace, operation: operation, object: object, oldObject: oldObject,
            dryRun: dryRun
        )
        return try! JSONEncoder().encode(AdmissionReview(request: request))
    }

    /// Posts `body` to `/mutate` and returns the status and decoded answer.
    func post(_ body: some Sequence<UInt8>, controller: AdmissionController) async throws -> (HTTPResponse.Status, JSONValue) {
        let app = Application(router: WebhookServer.router(controller: controller))
        let buffer = ByteBuffer(bytes: Array(body))
        return try await app.test(.router) { client in
            try await client.execute(uri: "/mutate", method: .post, body: buffer) { response in
                (response.status, try JSONValue.parse(response.body.readableBytesView))
            }
        }
    }

    func patch(_ answer: JSONValue) throws -> [JSONPatchOperation] {
        guard let text = answer[path: "response", "patch"]?.stringValue, let data = Data(base64Encoded: text) else { return [] }
        return try JSONDecoder().decode([JSONPatchOperation].self, from: data)
    }

    @Test func placesAKnativeServiceAndEchoesTheUID() async throws {
        let (controller, _) = try controller()
        let object = try exampleObject("direktiv/ksvc-0.8.10.json")
        let (status, answer) = try await post(review(object, uid: "abc-123"), controller: controller)
        #expect(status == .ok)
        #expect(answer["apiVersion"] == "admission.k8s.io/v1")
        #expect(answer["kind"] == "AdmissionReview")
        #expect(answer[path: "response", "uid"] == "abc-123")
        #expect(answer[path: "response", "allowed"] == true)
        #expect(answer[path: "response", "patchType"] == "JSONPatch")
        let patched = try JSONPatch.apply(try patch(answer), to: object)
        #expect(patched[path: "metadata", "annotations", "dispatch.direktiv.io/cluster"] == "external1")
        let counter = try metricsFactory.expectCounter(
            "direktiv_dispatch_admission_requests_total", [("kind", "Service"), ("operation", "CREATE"), ("outcome", "placed")])
        #expect(counter.totalValue == 1)
        let placements = try metricsFactory.expectCounter(
            "direktiv_dispatch_placements_total", [("direktiv_namespace", "team-a"), ("cluster", "external1"), ("outcome", "placed")])
        #expect(placements.totalValue == 1)
        #expect(try metricsFactory.expectTimer("direktiv_dispatch_placement_duration_seconds").values.count == 1)
    }

    @Test func dryRunIsPlacedLikeARealCreation() async throws {
        let (controller, _) = try controller()
        let (_, answer) = try await post(review(try exampleObject("direktiv/ksvc-0.8.10.json"), dryRun: true), controller: controller)
        #expect(answer[path: "response", "allowed"] == true)
        #expect(!(try patch(answer)).isEmpty)
    }

    @Test func updatesKeepTheClusterOfTheOldObject() async throws {
        let (controller, _) = try controller()
        let object = try exampleObject("direktiv/ksvc-0.8.10.json")
        let old = try JSONPatch.apply(
            PlacementPatch.operations(for: object, cluster: "external2", direktivNamespace: "team-a", settings: PatchSettings()), to: object)
        // Direktiv sends its own definition again, without the agent's annotations.
        let (_, answer) = try await post(review(object, operation: "UPDATE", oldObject: old), controller: controller)
        let patched = try JSONPatch.apply(try patch(answer), to: object)
        #expect(patched[path: "metadata", "annotations", "dispatch.direktiv.io/cluster"] == "external2")
        #expect(
            try metricsFactory.expectCounter(
                "direktiv_dispatch_admission_requests_total", [("kind", "Service"), ("operation", "UPDATE"), ("outcome", "kept")]
            ).totalValue == 1)
    }

    /// Issue 23, item 2: with every team-a cluster gone, a new team-a function would be refused;
    /// an UPDATE that leaves the pod template alone, or reaches an object being deleted (the
    /// garbage collector removing a finalizer), must still pass, untouched. A changed template
    /// is decided again.
    @Test func updatesThatCannotMoveTheFunctionPassUntouched() async throws {
        let rules = try RulesParser.parse(
            """
            clusterLabel: direktiv.io/namespace
            functionsNamespaces: [direktiv-services-direktiv]
            direktivNamespaces: [team-a]
            namespaces:
              - match: "team-*"
                clusters: [nowhere]
                onNoFit: reject
            """)
        let (controller, _) = try controller(rules: rules)
        let object = try exampleObject("direktiv/ksvc-0.8.10.json")
        let placed = try JSONPatch.apply(
            PlacementPatch.operations(for: object, cluster: "external1", direktivNamespace: "team-a", settings: PatchSettings()), to: object)
        let (_, created) = try await post(review(object), controller: controller)
        #expect(created[path: "response", "allowed"] == false, "the rules leave team-a nowhere to go")

        let relabelled = placed.replacing(["metadata", "labels", "team"], with: "billing")
        let terminating = placed.replacing(["metadata", "deletionTimestamp"], with: "2026-12-04T04:00:00Z").replacing(
            ["metadata", "finalizers"], with: ["foregroundDeletion"])
        let finalizerGone = terminating.replacing(["metadata", "finalizers"], with: [])
        let scaled = placed.replacing(["status", "observedGeneration"], with: 3)
        for (name, new, old) in [("labels", relabelled, placed), ("finalizer", finalizerGone, terminating), ("status", scaled, placed)] {
            let (_, answer) = try await post(review(new, operation: "UPDATE", oldObject: old), controller: controller)
            #expect(answer[path: "response", "allowed"] == true, "\(name): \(answer)")
            #expect(answer[path: "response", "patch"] == nil, "\(name)")
        }
        #expect(
            try metricsFactory.expectCounter(
                "direktiv_dispatch_admission_requests_total", [("kind", "Service"), ("operation", "UPDATE"), ("outcome", "ignored")]
            ).totalValue == 3)

        let newImage = placed.replacing(["spec", "template", "metadata", "labels", "revision"], with: "2")
        let (_, changed) = try await post(review(newImage, operation: "UPDATE", oldObject: placed), controller: controller)
        #expect(changed[path: "response", "allowed"] == false, "a new template is decided again")
    }

    @Test func recreatingAFunctionKeepsTheClusterOfItsPlacement() throws {
        let (controller, _) = try controller()
        let object = try exampleObject("direktiv/ksvc-0.8.10.json")
        let key = FunctionKey(namespace: "direktiv-services-direktiv", name: "team-a-greeter-flows-hello-yaml-4c1d9e0b7a")
        let fresh = try controller.review(body: review(object), shared: .none)
        #expect(try cluster(fresh, object) == "external1", "least-loaded: external1 has more room")
        // Direktiv 0.8.1+ deletes and creates again on every change: the FunctionPlacement,
        // whichever replica wrote it, keeps the cluster although least-loaded would pick external1.
        let recorded = FunctionPlacement(
            metadata: ObjectMeta(name: key.name, namespace: key.namespace),
            spec: .init(workload: .init(kind: .knativeService, name: key.name), direktivNamespace: "team-a", cluster: "external2"))
        let again = try controller.review(body: review(object, uid: "second"), shared: SharedPlacements(own: recorded, isFresh: true))
        #expect(try cluster(again, object) == "external2")
        #expect(
            try metricsFactory.expectCounter(
                "direktiv_dispatch_admission_requests_total", [("kind", "Service"), ("operation", "CREATE"), ("outcome", "kept")]
            ).totalValue == 1)
    }

    @Test func reservingPlacementsCountAgainstTheirCluster() throws {
        let (controller, _) = try controller()
        let object = try exampleObject("direktiv/ksvc-0.8.10.json")
        // Another function's placement on external1 reserves more than external2 has free in all.
        let other = FunctionPlacement(
            decision: PlacementDecision(
                outcome: .placed, cluster: "external1", summary: "placed", direktivNamespace: "team-b",
                requestPerPod: Resources(milliCPU: 6000, memoryBytes: 1 << 30), replicas: 1, rule: nil, override: nil, rows: [], warnings: []),
            key: FunctionKey(namespace: "direktiv-services-direktiv", name: "other"), kind: .knativeService, decidedAt: Date(), decidedBy: "b",
            reservedUntil: Date().addingTimeInterval(60))
        let answer = try controller.review(body: review(object), shared: SharedPlacements(reserving: [other], isFresh: true))
        #expect(try cluster(answer, object) == "external2", "external1's free CPU less the reservation is below external2's")
        var expired = other
        expired.metadata.annotations?[FunctionPlacement.reservedUntilAnnotation] = FunctionPlacement.format(Date().addingTimeInterval(-1))
        let later = try controller.review(body: review(object), shared: SharedPlacements(reserving: [expired], isFresh: true))
        #expect(try cluster(later, object) == "external1", "an expired reservation counts no more")
    }

    /// The cluster the answer's patch pins `object` to.
    func cluster(_ review: AdmissionReview, _ object: JSONValue) throws -> String? {
        guard let text = review.response?.patch, let data = Data(base64Encoded: text) else { return nil }
        let operations = try JSONDecoder().decode([JSONPatchOperation].self, from: data)
        return try JSONPatch.apply(operations, to: object)[path: "metadata", "annotations", "dispatch.direktiv.io/cluster"]?.stringValue
    }

    @Test(arguments: [
        ("DELETE", GroupVersionKind.knativeService, "direktiv-services-direktiv"),
        ("CONNECT", GroupVersionKind.knativeService, "direktiv-services-direktiv"),
        ("CREATE", GroupVersionKind(group: "", version: "v1", kind: "ConfigMap"), "direktiv-services-direktiv"),
        ("CREATE", GroupVersionKind.knativeService, "some-other-namespace"),
    ])
    func othersPassUnchanged(operation: String, kind: GroupVersionKind, namespace: String) async throws {
        let (controller, _) = try controller()
        let (status, answer) = try await post(
            review(try exampleObject("direktiv/ksvc-0.8.10.json"), operation: operation, kind: kind, namespace: namespace), controller: controller)
        #expect(status == .ok)
        #expect(answer[path: "response", "allowed"] == true)
        #expect(answer[path: "response", "patch"] == nil)
    }

    @Test func knativeRevisionDeploymentsAreLeftAlone() async throws {
        let (controller, _) = try controller()
        let revision: JSONValue = [
            "metadata": ["name": "team-a-greeter-00001-deployment", "labels": ["serving.knative.dev/revision": "team-a-greeter-00001"]],
            "spec": ["template": ["spec": ["containers": [["name": "user-container"]]]]],
        ]
        let (_, answer) = try await post(review(revision, kind: .deployment), controller: controller)
        #expect(answer[path: "response", "allowed"] == true)
        #expect(answer[path: "response", "patch"] == nil)
    }

    @Test func rejectionCarriesTheReasons() async throws {
        let (controller, _) = try controller()
        let object: JSONValue = [
            "metadata": ["name": "huge", "annotations": ["dispatch.direktiv.io/namespace": "external2"]],
            "spec": ["template": ["spec": ["containers": [["name": "c", "resources": ["requests": ["cpu": "64"]]]]]]],
        ]
        let (status, answer) = try await post(review(object), controller: controller)
        #expect(status == .ok)
        #expect(answer[path: "response", "allowed"] == false)
        #expect(answer[path: "response", "status", "code"] == 403)
        let message = answer[path: "response", "status", "message"]?.stringValue ?? ""
        #expect(message.hasPrefix("direktiv-dispatch: rejected: no eligible cluster for Direktiv namespace \"external2\""))
        #expect(message.contains("does not fit"))
    }

    @Test(arguments: [
        (#"not json"#, "not an AdmissionReview"),
        (#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}"#, "expected apiVersion admission.k8s.io/v1"),
        (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#, "no request.uid"),
        (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "no request.uid"),
        (#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"x"}}"#, "expected apiVersion"),
    ])
    func badBodiesAreRefusedWith400(body: String, message: String) async throws {
        let (controller, _) = try controller()
        let (status, answer) = try await post(Array(body.utf8), controller: controller)
        #expect(status == .badRequest)
        #expect(answer["error"]?.stringValue?.contains(message) == true, "\(answer)")
        #expect(
            try metricsFactory.expectCounter(
                "direktiv_dispatch_admission_requests_total", [("kind", "other"), ("operation", "unknown"), ("outcome", "invalid")]
            ).totalValue == 1)
    }

    @Test func malformedFunctionsAreDeniedWith400() async throws {
        let (controller, _) = try controller()
        let object: JSONValue = [
            "metadata": ["name": "broken", "labels": ["direktiv.io/namespace-name": "team-a"]],
            "spec": ["template": ["spec": ["containers": [["name": "c", "resources": ["requests": ["cpu": "lots"]]]]]]],
        ]
        let (status, answer) = try await post(review(object), controller: controller)
        #expect(status == .ok)
        #expect(answer[path: "response", "allowed"] == false)
        #expect(answer[path: "response", "status", "code"] == 400)
        #expect(answer[path: "response", "status", "message"]?.stringValue?.contains("not a Kubernetes quantity") == true)
        let (_, missing) = try await post(review(nil), controller: controller)
        #expect(missing[path: "response", "allowed"] == false)
    }

    @Test func oversizedBodiesGet413() async throws {
        let (controller, _) = try controller()
        let app = Application(router: WebhookServer.router(controller: controller, maximumBodyBytes: 1024))
        try await app.test(.router) { client in
            try await client.execute(uri: "/mutate", method: .post, body: ByteBuffer(repeating: UInt8(ascii: "x"), count: 4096)) { response in
                #expect(response.status == .contentTooLarge)
            }
            try await client.execute(uri: "/other", method: .post, body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func knativeFeatureWarningsNameTheFlag() async throws {
        let (controller, state) = try controller()
        state.knativeFeatures = KnativeFeatures(affinityEnabled: false, tolerationsEnabled: false)
        let (_, answer) = try await post(review(try exampleObject("direktiv/ksvc-0.8.10.json")), controller: controller)
        let warnings = answer[path: "response", "warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(warnings.count == 2)
        #expect(warnings.contains { $0.contains("set kubernetes.podspec-affinity: enabled in ConfigMap knative-serving/config-features") })
        #expect(warnings.contains { $0.contains("kubernetes.podspec-tolerations") })
        // Deployments do not go through Knative.
        let (_, deployment) = try await post(review(try exampleObject("direktiv/deployment-0.10.json"), kind: .deployment), controller: controller)
        #expect(deployment[path: "response", "warnings"] == nil)
    }
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func exampleRulesText() throws -> String {
    try String(contentsOf: repositoryRoot.appendingPathComponent("examples/rules.yaml"), encoding: .utf8)
}
