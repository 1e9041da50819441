import KubeModels
import KubeSim
import Testing

@Suite struct ControlPlaneTests {
    func seeded() throws -> (ObjectStore, ControlPlane, KubeSim) {
        let sim = try KubeSim()
        try Scenario.seed.apply(to: sim.store)
        var options = ControlPlane.Options()
        options.podStartDelay = .zero
        return (sim.store, ControlPlane(store: sim.store, options: options), sim)
    }

    /// Passes until nothing changes, as the watch-driven loop would run them.
    func settle(_ plane: ControlPlane, _ store: ObjectStore) {
        var version = ""
        for _ in 0..<20 where version != store.currentResourceVersion {
            version = store.currentResourceVersion
            plane.reconcile()
        }
    }

    func service(_ name: String, cluster: String, minScale: Int = 1, tolerate: Bool = true, cpu: String = "100m") -> JSONValue {
        var spec: [String: JSONValue] = [
            "affinity": [
                "nodeAffinity": [
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        "nodeSelectorTerms": [
                            ["matchExpressions": [["key": "direktiv.io/namespace", "operator": "In", "values": [.string(cluster)]]]]
                        ]
                    ]
                ]
            ],
            "containers": [["name": "direktiv-container", "image": "x", "resources": ["requests": ["cpu": .string(cpu), "memory": "64M"]]]],
        ]
        if tolerate { spec["tolerations"] = [["key": "virtual-node.liqo.io/not-allowed", "operator": "Exists", "effect": "NoExecute"]] }
        return [
            "apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": ["name": .string(name)],
            "spec": [
                "template": ["metadata": ["annotations": ["autoscaling.knative.dev/min-scale": .string(String(minScale))]], "spec": .object(spec)]
            ],
        ]
    }

    func pods(_ store: ObjectStore, of service: String) throws -> [JSONValue] {
        try store.list(
            .pods, namespace: Scenario.functionsNamespace, labelSelector: try LabelSelector(parsing: "serving.knative.dev/service=\(service)")
        ).items
    }

    @Test func revisionPodsLandWhereTheAffinitySaysAndTheServiceGetsReady() throws {
        let (store, plane, _) = try seeded()
        _ = try store.create(service("fn", cluster: "external2", minScale: 2), .knativeServices, namespace: Scenario.functionsNamespace)
        settle(plane, store)
        let running = try pods(store, of: "fn")
        #expect(running.count == 2)
        #expect(running.allSatisfy { $0[path: "spec", "nodeName"] == "liqo-external2" && $0[path: "status", "phase"] == "Running" })
        #expect(running.allSatisfy { $0[path: "spec", "containers"]?.arrayValue?.contains { $0["name"] == "queue-proxy" } == true })
        let ready = try store.get(.knativeServices, namespace: Scenario.functionsNamespace, name: "fn")
        #expect(try ready.decode(as: KnativeService.self).isReady)
        #expect(ready[path: "status", "url"] == "http://fn.direktiv-services-direktiv.svc.cluster.local")
        #expect(ready[path: "status", "latestReadyRevisionName"] == "fn-00001")

        // A new generation replaces the revision's pods once they run.
        try store.modify(.knativeServices, namespace: Scenario.functionsNamespace, name: "fn") {
            $0 = $0.setting(path: ["spec", "template", "metadata", "labels", "v"], "2")
        }
        settle(plane, store)
        #expect(
            try pods(store, of: "fn").compactMap { $0[path: "metadata", "labels", "serving.knative.dev/revision"]?.stringValue } == [
                "fn-00002", "fn-00002",
            ])

        _ = try store.delete(.knativeServices, namespace: Scenario.functionsNamespace, name: "fn")
        settle(plane, store)
        #expect(try pods(store, of: "fn").isEmpty)
    }

    @Test func unschedulablePodsSayWhyAsTheSchedulerDoes() throws {
        let (store, plane, _) = try seeded()
        _ = try store.create(service("untolerated", cluster: "external1", tolerate: false), .knativeServices, namespace: Scenario.functionsNamespace)
        _ = try store.create(service("toobig", cluster: "main", cpu: "6"), .knativeServices, namespace: Scenario.functionsNamespace)
        settle(plane, store)
        let untolerated = try #require(try pods(store, of: "untolerated").first)
        let message = untolerated[path: "status", "conditions"]?.arrayValue?.first { $0["type"] == "PodScheduled" }?["message"]?.stringValue
        #expect(
            message
                == "0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 2 node(s) had untolerated taint {virtual-node.liqo.io/not-allowed: true}. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
        )
        #expect(untolerated[path: "status", "phase"] == "Pending")

        let status = try store.get(.knativeServices, namespace: Scenario.functionsNamespace, name: "toobig")[path: "status", "conditions"]?
            .arrayValue?.first { $0["type"] == "Ready" }
        #expect(status?["status"] == "False")
        #expect(status?["reason"] == "RevisionFailed")
        #expect(status?["message"]?.stringValue?.contains("2 Insufficient cpu") == true, "\(String(describing: status))")
    }

    @Test func deploymentsKeepTheirReplicas() throws {
        let (store, plane, _) = try seeded()
        let deployment: JSONValue = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"],
            "spec": [
                "replicas": 3, "selector": ["matchLabels": ["app": "web"]],
                "template": [
                    "metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "c", "resources": ["requests": ["cpu": "100m"]]]]],
                ],
            ],
        ]
        _ = try store.create(deployment, .deployments, namespace: "default")
        settle(plane, store)
        let stored = try store.get(.deployments, namespace: "default", name: "web").decode(as: Deployment.self)
        #expect(stored.isReady)
        #expect(stored.status?.readyReplicas == 3)
        #expect(
            try store.list(.pods, namespace: "default", labelSelector: try LabelSelector(parsing: "app=web")).items.allSatisfy {
                $0[path: "spec", "nodeName"]?.stringValue?.hasPrefix("main-") == true
            })
    }

    @Test func aLostPeerTurnsNotReadyAndComesBack() throws {
        let (store, plane, sim) = try seeded()
        #expect(try sim.setPeer(cluster: "external2", reachable: false) == ["liqo-external2"])
        let node = try store.get(.nodes, namespace: nil, name: "liqo-external2")
        #expect(node[path: "status", "conditions"]?.arrayValue?.first { $0["type"] == "Ready" }?["status"] == "Unknown")
        #expect(node[path: "spec", "taints"]?.arrayValue?.contains { $0["key"] == "node.kubernetes.io/unreachable" } == true)
        let pod = try store.get(.pods, namespace: Scenario.functionsNamespace, name: "external2-resize-00001-deployment-8f6a2b-p5r6t")
        #expect(pod[path: "metadata", "labels", "liqo.io/remote-unavailable"] == "true")
        // New pods do not go to the lost peer.
        _ = try store.create(service("later", cluster: "external2"), .knativeServices, namespace: Scenario.functionsNamespace)
        settle(plane, store)
        #expect(try pods(store, of: "later").first?[path: "spec", "nodeName"] == nil)

        try sim.setPeer(cluster: "external2", reachable: true)
        settle(plane, store)
        #expect(try pods(store, of: "later").first?[path: "spec", "nodeName"] == "liqo-external2")
        #expect(
            try store.get(.pods, namespace: Scenario.functionsNamespace, name: "external2-resize-00001-deployment-8f6a2b-p5r6t")[
                path: "metadata", "labels", "liqo.io/remote-unavailable"] == nil)
    }
}
