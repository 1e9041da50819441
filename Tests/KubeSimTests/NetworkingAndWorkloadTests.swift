import Foundation
import KubeModels
import Testing

@testable import KubeSim

/// Services, EndpointSlices, ReplicaSets and HPAs as the controllers of a real cluster run
/// them, driven pass by pass.
struct NetworkingAndWorkloadTests {
    let base = ControlPlaneTests()
    let namespace = Scenario.functionsNamespace

    func routes(_ store: ObjectStore) -> FunctionRoutes {
        FunctionRoutes.build(store: store, clusterLabel: "direktiv.io/namespace")
    }

    func host(_ name: String) -> String { FunctionRoutes.canonicalHost(name: name, namespace: Scenario.functionsNamespace) }

    func isReady(_ store: ObjectStore, _ name: String) throws -> Bool {
        try store.get(.knativeServices, namespace: namespace, name: name).decode(as: KnativeService.self).isReady
    }

    /// Knative turns a Service Ready only when its revision's endpoints are ready, so a call
    /// made on Ready is routed: at no pass is the Service Ready while its host has no route
    /// (the "no such host" seen on the first call after Ready). The Service's name is a core
    /// ExternalName Service to the ingress, its revision a ClusterIP Service selecting its pods.
    @Test func aKnativeServiceIsReadyOnlyOnceItIsRoutable() throws {
        let (store, plane, _) = try base.seeded()
        _ = try store.create(base.service("fn", cluster: "external1", minScale: 2), .knativeServices, namespace: namespace)
        var sawReady = false
        for _ in 0..<20 {
            plane.reconcile()
            let ready = try isReady(store, "fn")
            let serving = routes(store).routes[host("fn")]?.servingClusters ?? []
            if ready { #expect(serving == ["external1"], "Ready while the host routes to \(serving)") }
            sawReady = sawReady || ready
        }
        #expect(sawReady)
        let route = try store.get(.services, namespace: namespace, name: "fn")
        #expect(route[path: "spec", "type"] == "ExternalName")
        let revision = try store.get(.services, namespace: namespace, name: "fn-00001-private")
        #expect(revision[path: "spec", "selector", "serving.knative.dev/revision"] == "fn-00001")
        #expect(revision[path: "spec", "clusterIP"]?.stringValue?.hasPrefix("10.96.") == true)
        let slices = try store.list(
            .endpointSlices, namespace: namespace, labelSelector: try LabelSelector(parsing: "kubernetes.io/service-name=fn-00001-private")
        ).items
        #expect(slices.count == 1)
        #expect(slices.first?["endpoints"]?.arrayValue?.count == 2)
        #expect(slices.first?["ports"] == [["name": "http", "port": 8012, "protocol": "TCP"]])
    }

    /// A peer that stops answering: the node lifecycle controller marks its pods not Ready, they
    /// leave the endpoints, the host has no route and the Service is no longer Ready; all of it
    /// returns with the peer.
    @Test func aLostPeerTakesItsEndpointsAway() throws {
        let (store, plane, sim) = try base.seeded()
        _ = try store.create(base.service("fn", cluster: "external2"), .knativeServices, namespace: namespace)
        base.settle(plane, store)
        #expect(routes(store).routes[host("fn")]?.servingClusters == ["external2"])
        try sim.setPeer(cluster: "external2", reachable: false)
        base.settle(plane, store)
        let pod = try #require(try base.pods(store, of: "fn").first)
        #expect(Pods.isReady(pod) == false)
        #expect(
            EndpointSliceController.readyEndpoints(of: "fn-00001-private", namespace: namespace, slices: try store.list(.endpointSlices).items)
                .isEmpty)
        #expect(routes(store).routes[host("fn")]?.servingClusters == [])
        #expect(try isReady(store, "fn") == false)
        let node = try store.get(.nodes, namespace: nil, name: "liqo-external2")
        #expect(
            node[path: "spec", "taints"]?.arrayValue?.contains { $0["key"] == "node.kubernetes.io/unreachable" && $0["effect"] == "NoSchedule" }
                == true)

        try sim.setPeer(cluster: "external2", reachable: true)
        base.settle(plane, store)
        #expect(routes(store).routes[host("fn")]?.servingClusters == ["external2"])
        #expect(try isReady(store, "fn"))
    }

    /// A pod being deleted stays in its slice as terminating, serving, not ready (the
    /// EndpointSliceTerminatingCondition behaviour), until its kubelet confirms.
    @Test func aTerminatingPodIsNotAReadyEndpoint() throws {
        let (store, plane, sim) = try base.seeded()
        _ = try store.create(base.service("fn", cluster: "external2"), .knativeServices, namespace: namespace)
        base.settle(plane, store)
        let name = try #require(try base.pods(store, of: "fn").first?[path: "metadata", "name"]?.stringValue)
        // Its kubelet stops answering, so the deletion stays pending.
        try sim.setPeer(cluster: "external2", reachable: false)
        _ = try store.delete(.pods, namespace: namespace, name: name)
        try EndpointSliceController(store: store).reconcile()
        let slice = try #require(
            try store.list(
                .endpointSlices, namespace: namespace, labelSelector: try LabelSelector(parsing: "kubernetes.io/service-name=fn-00001-private")
            ).items.first)
        let endpoint = try #require(slice["endpoints"]?.arrayValue?.first { $0[path: "targetRef", "name"]?.stringValue == name })
        #expect(endpoint[path: "conditions", "terminating"] == true)
        #expect(endpoint[path: "conditions", "ready"] == false)
        #expect(endpoint[path: "conditions", "serving"] == true, "still Ready: the node lifecycle controller has not marked it yet")
    }

    func deployment(_ name: String, image: String = "direktiv/fn:v1", replicas: Int64 = 2) -> JSONValue {
        [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": .string(name)],
            "spec": [
                "replicas": .integer(replicas), "selector": ["matchLabels": ["direktiv-service": .string(name)]],
                "template": [
                    "metadata": ["labels": ["direktiv-service": .string(name)]],
                    "spec": ["containers": [["name": "direktiv-sidecar", "image": .string(image), "ports": [["containerPort": 8890]]]]],
                ],
            ],
        ]
    }

    /// Deployment -> ReplicaSet -> Pods, each owned by the one before: a new template makes a
    /// new ReplicaSet and the old one goes to 0 once the new one is available; deleting the
    /// Deployment removes both through the garbage collector.
    @Test func deploymentsRollOutThroughReplicaSets() throws {
        let (store, plane, _) = try base.seeded()
        _ = try store.create(deployment("web"), .deployments, namespace: namespace)
        base.settle(plane, store)
        let first = try store.list(.replicaSets, namespace: namespace).items
        #expect(first.count == 1)
        let set = try #require(first.first)
        #expect(set[path: "metadata", "ownerReferences"]?.arrayValue?.first?["kind"] == "Deployment")
        let pods = try store.list(.pods, namespace: namespace, labelSelector: try LabelSelector(parsing: "direktiv-service=web")).items
        #expect(pods.count == 2)
        #expect(pods.allSatisfy { OwnerReference.isControlled($0, by: set) && $0[path: "metadata", "labels", "pod-template-hash"] != nil })
        #expect(try store.get(.deployments, namespace: namespace, name: "web")[path: "status", "availableReplicas"] == 2)

        try store.modify(.deployments, namespace: namespace, name: "web") {
            $0 = $0.setting(path: ["spec", "template", "spec", "containers"], [["name": "direktiv-sidecar", "image": "direktiv/fn:v2"]])
        }
        base.settle(plane, store)
        let sets = try store.list(.replicaSets, namespace: namespace).items
        #expect(sets.count == 2)
        #expect(sets.map { $0[path: "spec", "replicas"]?.integerValue ?? -1 }.sorted() == [0, 2])
        let running = try store.list(.pods, namespace: namespace, labelSelector: try LabelSelector(parsing: "direktiv-service=web")).items
        #expect(running.allSatisfy { $0[path: "spec", "containers"]?.arrayValue?.first?["image"] == "direktiv/fn:v2" })

        _ = try store.delete(.deployments, namespace: namespace, name: "web")
        base.settle(plane, store)
        #expect(try store.list(.replicaSets, namespace: namespace).items.isEmpty)
        #expect(try store.list(.pods, namespace: namespace, labelSelector: try LabelSelector(parsing: "direktiv-service=web")).items.isEmpty)
    }

    /// Direktiv 0.10's function: Deployment, core Service 80 -> 8890, HPA. The host routes once
    /// the Service has ready endpoints; the HPA keeps replicas within its bounds and leaves a
    /// Deployment scaled to zero alone (Direktiv's own scale-to-zero).
    @Test func direktivTenFunctionsRouteThroughTheirService() throws {
        let (store, plane, _) = try base.seeded()
        _ = try store.create(deployment("fn10", replicas: 1), .deployments, namespace: namespace)
        base.settle(plane, store)
        #expect(routes(store).routes[host("fn10")] == nil, "no Service, no host")
        let service: JSONValue = [
            "apiVersion": "v1", "kind": "Service", "metadata": ["name": "fn10"],
            "spec": ["selector": ["direktiv-service": "fn10"], "ports": [["port": 80, "targetPort": 8890]]],
        ]
        _ = try store.create(service, .services, namespace: namespace)
        let autoscaler: JSONValue = [
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": ["name": "fn10"],
            "spec": ["scaleTargetRef": ["apiVersion": "apps/v1", "kind": "Deployment", "name": "fn10"], "minReplicas": 2, "maxReplicas": 4],
        ]
        _ = try store.create(autoscaler, .horizontalPodAutoscalers, namespace: namespace)
        base.settle(plane, store)
        #expect(try store.get(.deployments, namespace: namespace, name: "fn10")[path: "spec", "replicas"] == 2)
        #expect(routes(store).routes[host("fn10")]?.servingClusters == ["main"])

        try store.modify(.deployments, namespace: namespace, name: "fn10") { $0 = $0.setting(path: ["spec", "replicas"], 0) }
        base.settle(plane, store)
        #expect(try store.get(.deployments, namespace: namespace, name: "fn10")[path: "spec", "replicas"] == 0)
        #expect(routes(store).routes[host("fn10")]?.servingClusters == [])
        let hpa = try store.get(.horizontalPodAutoscalers, namespace: namespace, name: "fn10")
        #expect(hpa[path: "status", "conditions"]?.arrayValue?.first { $0["type"] == "ScalingActive" }?["reason"] == "ScalingDisabled")
    }

    /// events.k8s.io/v1 and core/v1 Events are one object seen two ways; an events.k8s.io
    /// Event lacking what ValidateEventCreate requires is refused.
    @Test func eventsAreOneObjectInTwoAPIs() throws {
        let store = ObjectStore()
        try Scenario.empty.apply(to: store)
        let event: JSONValue = [
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": ["name": "e1"], "eventTime": "2026-12-05T06:00:00.000000Z",
            "type": "Warning", "reason": "Stranded", "action": "Place", "note": "no cluster fits",
            "reportingController": "dispatch.direktiv.io/agent",
            "reportingInstance": "a", "regarding": ["kind": "Deployment", "name": "fn"],
        ]
        _ = try store.create(event, .eventsV1, namespace: "default")
        let core = try store.get(.events, namespace: "default", name: "e1")
        #expect(core["message"] == "no cluster fits")
        #expect(core[path: "involvedObject", "name"] == "fn")
        #expect(core["apiVersion"] == "v1")
        #expect(try store.get(.eventsV1, namespace: "default", name: "e1")["note"] == "no cluster fits")
        #expect(try store.list(.eventsV1, namespace: "default").items.first?["regarding"]?["kind"] == "Deployment")
        #expect(throws: Status.self) {
            try store.create(
                event.setting("metadata", ["name": "e2"]).setting("eventTime", nil).setting("deprecatedCount", 3), .eventsV1, namespace: "default")
        }
        do {
            _ = try store.create(event.setting("metadata", ["name": "e2"]).setting("eventTime", nil), .eventsV1, namespace: "default")
        } catch {
            #expect(error.code == 422)
            #expect(error.message?.contains("eventTime: Required value") == true, "\(error)")
        }
    }
}
