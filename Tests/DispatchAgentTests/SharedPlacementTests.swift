import DispatchAgent
import DispatchCore
import DispatchPrometheus
import Foundation
import KubeClient
import KubeModels
import KubeSim
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// Two agent replicas against one KubeSim, each with its own client, caches and memory, sharing
/// only what the API server holds: the FunctionPlacements and the leader Lease. The webhook
/// registration is pointed at one replica or the other, as the webhook Service's load balancing
/// would.
@Suite(.serialized) struct SharedPlacementTests {
    static let functions = Scenario.functionsNamespace

    static let token = "shared-placements-admin-token-0123456789abcdef"
    static let tokenFile: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("shared-placements-token-\(UUID().uuidString)")
        try? "\(token)\n".write(to: url, atomically: true, encoding: .utf8)
        return url
    }()

    /// Quick leader election and upkeep, so the tests wait for seconds, not client-go's 15.
    static func configure(_ identity: String) -> (inout AgentSettings) -> Void {
        { settings in
            settings.identity = identity
            settings.adminTokenFile = tokenFile.path
            settings.leaderTimings = .init(leaseDuration: 2, renewDeadline: 1.5, retryPeriod: 0.2)
            settings.placementUpkeepInterval = .milliseconds(200)
        }
    }

    /// Rules with one rule for `team-*` over `clusters`, `onNoFit: reject`, and `top` (more
    /// top-level keys, one per line) before it.
    static func teamRules(_ clusters: [String], ordered: Bool = false, top: [String] = []) -> String {
        (["clusterLabel: direktiv.io/namespace", "functionsNamespaces: [direktiv-services-direktiv]"] + top + [
            "namespaces:", #"  - match: "team-*""#, "    clusters: [\(clusters.joined(separator: ", "))]",
        ] + (ordered ? ["    strategy: ordered"] : []) + ["    onNoFit: reject"]).joined(separator: "\n")
    }

    func withReplicas(
        rules: String? = nil, controlPlane: Bool = true, _ body: (SimHarness, AgentHarness, AgentHarness, KubeClient) async throws -> Void
    ) async throws {
        let sim = try await SimHarness.start(controlPlane: controlPlane)
        let rules = try rules ?? exampleRulesYAML()
        let a = try await AgentHarness.start(sim: sim, rules: rules, configure: Self.configure("agent-a"))
        let b = try await AgentHarness.start(sim: sim, rules: rules, configure: Self.configure("agent-b"))
        let client = try sim.client()
        try await withTeardown {
            try await body(sim, a, b, client)
        } teardown: {
            try? await client.shutdown()
            await a.stop()
            await b.stop()
            await sim.stop()
        }
    }

    func placement(_ name: String, _ client: KubeClient) async throws -> FunctionPlacement {
        try await client.get(FunctionPlacement.self, .functionPlacements, name: name, namespace: Self.functions)
    }

    func function(_ name: String, namespace direktivNamespace: String, cpu: String, memory: String = "100Mi") -> JSONValue {
        [
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": [
                "name": .string(name), "namespace": .string(Self.functions),
                "annotations": ["dispatch.direktiv.io/namespace": .string(direktivNamespace)],
            ],
            "spec": [
                "template": [
                    "spec": [
                        "containers": [
                            [
                                "name": "direktiv-container", "image": "x",
                                "resources": ["requests": ["cpu": .string(cpu), "memory": .string(memory)]],
                            ]
                        ]
                    ]
                ]
            ],
        ]
    }

    @Test func recreationThroughTheOtherReplicaKeepsTheClusterAfterTheCapacityShifted() async throws {
        try await withReplicas { sim, a, b, client in
            let name = "team-a-greeter-flows-hello-yaml-4c1d9e0b7a"
            try a.register(in: sim.sim, failurePolicy: "Fail")
            let first = try await client.create(try exampleObject("direktiv/ksvc-0.8.10.json"), .knativeServices, namespace: Self.functions)
            #expect(first[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation] == "external1")
            let recorded = try await placement(name, client)
            #expect(recorded.spec.cluster == "external1")
            #expect(recorded.status?.outcome == "placed")
            #expect(recorded.status?.decidedBy == "agent-a")
            // The definition's schema prunes nothing the agent writes (KubeSim prunes as the API server does).
            let raw = try await client.get(JSONValue.self, .functionPlacements, name: name, namespace: Self.functions)
            func keys(_ value: JSONValue?) -> Set<String> { Set((value?.objectValue ?? [:]).keys) }
            #expect(keys(raw["spec"]) == ["workload", "direktivNamespace", "cluster", "rule", "request"])
            #expect(keys(raw[path: "spec", "rule"]) == ["index", "match", "clusters", "strategy", "onNoFit"])
            #expect(keys(raw[path: "spec", "request"]) == ["cpuMillis", "memoryBytes", "replicas"])
            #expect(keys(raw["status"]).isSuperset(of: ["outcome", "reason", "decidedAt", "decidedBy", "observedGeneration"]))
            #expect(raw[path: "metadata", "labels", FunctionPlacement.reservingLabel] == "true")
            #expect(raw[path: "metadata", "annotations", FunctionPlacement.reservedUntilAnnotation] != nil)

            try await client.delete(.knativeServices, name: name, namespace: Self.functions)
            // Capacity shifts: external1 fills up, so a new team-a function would now go to external2.
            let filler: JSONValue = [
                "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "filler", "namespace": .string(Self.functions)],
                "spec": [
                    "nodeName": "liqo-external1",
                    "tolerations": [["key": "virtual-node.liqo.io/not-allowed", "operator": "Exists"]],
                    "containers": [["name": "work", "image": "x", "resources": ["requests": ["cpu": "7", "memory": "1Gi"]]]],
                ],
            ]
            _ = try await client.create(filler, .pods, namespace: Self.functions)
            _ = try await next(b.agent.inventory.snapshots()) { ($0.cluster(named: "external1")?.total.free.milliCPU ?? 0) < 1000 }
            let fresh = b.agent.placer.explain(
                PlacementRequest(direktivNamespace: "team-a", requestPerPod: Resources(milliCPU: 100, memoryBytes: 1 << 20)))
            #expect(fresh.cluster == "external2", "a new team-a function now lands on external2")

            try b.register(in: sim.sim, failurePolicy: "Fail")
            let again = try await client.create(try exampleObject("direktiv/ksvc-0.8.10.json"), .knativeServices, namespace: Self.functions)
            #expect(again[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation] == "external1", "kept where replica A placed it")
            let kept = try await placement(name, client)
            #expect(kept.status?.outcome == "kept")
            #expect(kept.status?.decidedBy == "agent-b")
        }
    }

    @Test func aBurstAlternatingBetweenReplicasNeverPromisesMoreThanFits() async throws {
        // No control plane: no pods ever appear, so only the shared reservations stand between
        // the burst and an overcommitted cluster.
        let rules = Self.teamRules(["external2"])
        try await withReplicas(rules: rules, controlPlane: false) { sim, a, b, client in
            let free = try #require(a.agent.inventory.snapshot.cluster(named: "external2")?.total.free)
            let fits = Int(free.milliCPU / 500)
            #expect(fits >= 2 && fits < 20, "the burst must exceed external2 (\(free))")
            var admitted = 0
            for index in 0..<20 {
                try (index.isMultiple(of: 2) ? a : b).register(in: sim.sim, failurePolicy: "Fail")
                do {
                    _ = try await client.create(
                        function("burst-\(index)", namespace: "team-a", cpu: "500m"), .knativeServices, namespace: Self.functions)
                    admitted += 1
                } catch let error as KubeAPIError where error.code == 403 {
                    #expect(error.message.contains("rejected"), "\(error.message)")
                }
            }
            #expect(admitted == fits, "exactly what fits is admitted: \(admitted) of 20, \(fits) fit")
            let reserving = try await client.list(
                FunctionPlacement.self, .functionPlacements, namespace: Self.functions,
                options: ListOptions(labelSelector: "\(FunctionPlacement.reservingLabel)=true"))
            #expect(reserving.items.count == admitted)
            #expect(Set(reserving.items.compactMap(\.status?.decidedBy)) == ["agent-a", "agent-b"], "both replicas decided")
        }
    }

    @Test func restartedReplicasKeepEveryPlacementAndAnswerTheSame() async throws {
        let sim = try await SimHarness.start(controlPlane: true)
        let client = try sim.client()
        try await withTeardown {
            let rules = try exampleRulesYAML()
            let names = ["keep-1", "keep-2", "keep-3"]
            var clusters: [String: String] = [:]
            do {
                let a = try await AgentHarness.start(sim: sim, rules: rules, configure: Self.configure("old-a"))
                let b = try await AgentHarness.start(sim: sim, rules: rules, configure: Self.configure("old-b"))
                for (index, name) in names.enumerated() {
                    try (index.isMultiple(of: 2) ? a : b).register(in: sim.sim, failurePolicy: "Fail")
                    let created = try await client.create(
                        function(name, namespace: "team-b", cpu: "500m"), .knativeServices, namespace: Self.functions)
                    clusters[name] = created[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation]?.stringValue
                }
                await a.stop()
                await b.stop()
            }
            #expect(clusters.count == 3)
            // A rolling upgrade: both replicas replaced, nothing of their memory left.
            let a = try await AgentHarness.start(sim: sim, rules: rules, configure: Self.configure("new-a"))
            let b = try await AgentHarness.start(sim: sim, rules: rules, configure: Self.configure("new-b"))
            for (index, name) in names.enumerated() {
                try await client.delete(.knativeServices, name: name, namespace: Self.functions)
                try (index.isMultiple(of: 2) ? b : a).register(in: sim.sim, failurePolicy: "Fail")
                let again = try await client.create(function(name, namespace: "team-b", cpu: "500m"), .knativeServices, namespace: Self.functions)
                #expect(again[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation]?.stringValue == clusters[name], "\(name)")
            }
            // Both replicas read the same objects, so /v1/functions agrees.
            var views: [[String]] = []
            for replica in [a, b] {
                let directory = replica.agent.functions
                _ = try await next(directory.changes()) { _ in
                    names.allSatisfy { directory.placement(for: FunctionKey(namespace: Self.functions, name: $0))?.status?.outcome == "kept" }
                }
                let answer = try await AdminClient(port: replica.adminPort).call(.GET, "/v1/functions")
                views.append(
                    (answer.json["functions"]?.arrayValue ?? []).map {
                        [$0["name"], $0["cluster"], $0[path: "placement", "outcome"], $0[path: "placement", "decidedBy"]]
                            .map { $0?.stringValue ?? "-" }.joined(separator: " ")
                    })
            }
            #expect(views[0].count == 3)
            #expect(views[0] == views[1])
            await a.stop()
            await b.stop()
        } teardown: {
            try? await client.shutdown()
            await sim.stop()
        }
    }

    @Test func theLeaderIsNamedEverywhereAndHandsOverWhenItStops() async throws {
        try await withReplicas { _, a, b, client in
            let leader = try await next(a.agent.elector.leadership.follow()) { $0.holder != nil }.holder
            let (first, second) = leader == "agent-a" ? (a, b) : (b, a)
            let status = try await AdminClient(port: second.adminPort).call(.GET, "/v1/status")
            #expect(status.json[path: "leader", "holder"]?.stringValue == leader)
            #expect(status.json[path: "leader", "isLeader"] == false)
            #expect(String(buffer: first.prometheus.render()).contains("direktiv_dispatch_leader 1"))
            #expect(String(buffer: second.prometheus.render()).contains("direktiv_dispatch_leader 0"))

            let takeover = Task { try await next(second.agent.elector.leadership.follow()) { $0.isLeader } }
            await first.stop()
            _ = try await takeover.value
            // One handover, no flapping on the way (how fast a dead leader is replaced is
            // LeaderElectorTests' business, with its own clock).
            let lease = try await client.get(JSONValue.self, .leases, name: LeaderElector.defaultLeaseName, namespace: "direktiv-dispatch")
            #expect(lease[path: "spec", "leaseTransitions"]?.integerValue == 1, "\(lease)")
            let after = try await AdminClient(port: second.adminPort).call(.GET, "/v1/status")
            #expect(after.json[path: "leader", "holder"]?.stringValue == (leader == "agent-a" ? "agent-b" : "agent-a"))
        }
    }

    @Test(.enabled(if: Kubectl.path != nil, "kubectl is not on PATH"))
    func kubectlShowsThePlacementsAndTheWorkloadsEvents() async throws {
        try await withReplicas { sim, a, _, client in
            try a.register(in: sim.sim, failurePolicy: "Fail")
            let name = "team-a-greeter-flows-hello-yaml-4c1d9e0b7a"
            let key = FunctionKey(namespace: Self.functions, name: name)
            let events = try await client.watch(JSONValue.self, .events, namespace: Self.functions, options: ListOptions(resourceVersion: "0"))
            _ = try await client.create(try exampleObject("direktiv/ksvc-0.8.10.json"), .knativeServices, namespace: Self.functions)
            // The leader sees the pods on external1 and says so.
            let directory = a.agent.functions
            _ = try await next(directory.changes()) { _ in
                directory.placement(for: key)?.condition(FunctionPlacement.ConditionType.ready)?.status == "True"
            }
            _ = try await next(events) { event in
                if case .added(let object) = event { return object["reason"] == "Placed" && object[path: "involvedObject", "uid"] != nil }
                return false
            }

            let directoryURL = FileManager.default.temporaryDirectory.appendingPathComponent("kubectl-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directoryURL, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directoryURL) }
            let kubeconfig = directoryURL.appendingPathComponent("kubeconfig")
            try sim.sim.kubeconfig(server: sim.url).write(to: kubeconfig, atomically: true, encoding: .utf8)
            func kubectl(_ arguments: [String]) async throws -> String {
                let result = try await Kubectl.run(
                    ["--kubeconfig", kubeconfig.path, "--cache-dir", directoryURL.appendingPathComponent("cache").path] + arguments)
                #expect(result.status == 0, "\(arguments): \(result.stderr)")
                return result.stdout
            }
            let table = try await kubectl(["get", "fp", "-n", Self.functions])
            let lines = table.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(lines.first == ["NAME", "DIREKTIV-NAMESPACE", "CLUSTER", "OUTCOME", "READY", "AGE"], "\(table)")
            #expect(lines.dropFirst().first?.prefix(5) == [name, "team-a", "external1", "placed", "True"], "\(table)")
            let wide = try await kubectl(["get", "functionplacements.dispatch.direktiv.io", "-n", Self.functions, "-o", "wide"])
            #expect(wide.contains("REASON") && wide.contains("placed on external1"), "\(wide)")

            let described = try await kubectl(["describe", "ksvc", name, "-n", Self.functions])
            #expect(described.contains("Placed") && described.contains("direktiv-dispatch"), "\(described)")
            #expect(described.contains("placed on external1"), "\(described)")
        }
    }

    @Test func theLeaderRecordsWorkloadsPlacedBeforeTheDefinitionExisted() async throws {
        try await withReplicas { _, a, _, client in
            // A function the previous release placed: the annotation and affinity, no FunctionPlacement.
            var object = function("legacy", namespace: "team-b", cpu: "100m")
            object = try JSONPatch.apply(
                PlacementPatch.operations(for: object, cluster: "external2", direktivNamespace: "team-b", settings: PatchSettings()), to: object)
            // Not through either replica's webhook: the previous release had none of this.
            try await client.delete(.mutatingWebhookConfigurations, name: WebhookRegistration.name)
            _ = try await client.create(object, .knativeServices, namespace: Self.functions)
            let key = FunctionKey(namespace: Self.functions, name: "legacy")
            let directory = a.agent.functions
            _ = try await next(directory.changes()) { _ in directory.placement(for: key)?.status?.reason != nil }
            let recorded = try await placement("legacy", client)
            #expect(recorded.spec.cluster == "external2")
            #expect(recorded.spec.direktivNamespace == "team-b")
            #expect(recorded.status?.outcome == "kept")
            #expect(recorded.status?.reason?.contains("before FunctionPlacements existed") == true)
        }
    }

    /// Issue 20's core path with two replicas: a function on a peer that is lost moves to the
    /// next cluster of its rule once the peer has been unschedulable for afterSeconds (a new
    /// Knative revision runs there), by the leader alone, and returns once the peer is back.
    @Test func aFunctionOnALostPeerFailsOverAndComesBack() async throws {
        let rules = Self.teamRules(["external2", "external1"], ordered: true, top: ["failover: {afterSeconds: 1}"])
        try await withReplicas(rules: rules) { sim, a, b, client in
            try b.register(in: sim.sim, failurePolicy: "Fail")
            _ = try await client.create(function("mover", namespace: "team-b", cpu: "100m"), .knativeServices, namespace: Self.functions)
            let key = FunctionKey(namespace: Self.functions, name: "mover")
            let directory = a.agent.functions
            _ = try await next(directory.changes(), within: .seconds(30)) { _ in
                directory.placement(for: key)?.condition(FunctionPlacement.ConditionType.ready)?.status == "True"
            }
            #expect(directory.record(namespace: Self.functions, name: "mover")?.cluster == "external2")

            try sim.sim.setPeer(cluster: "external2", reachable: false)
            _ = try await next(directory.changes(), within: .seconds(30)) { _ in
                directory.placement(for: key)?.status?.outcome == "failedOver"
                    && directory.record(namespace: Self.functions, name: "mover")?.cluster == "external1"
                    && directory.record(namespace: Self.functions, name: "mover")?.isReady == true
            }
            let moved = try await placement("mover", client)
            #expect(moved.spec.cluster == "external1")
            #expect(moved.status?.failedOverFrom == "external2")
            let leader = a.agent.elector.leadership.value.holder
            #expect(moved.status?.decidedBy == leader, "only the leader moves")
            let pods = try await client.list(
                Pod.self, .pods, namespace: Self.functions, options: ListOptions(labelSelector: "serving.knative.dev/service=mover"))
            #expect(pods.items.contains { $0.spec?.nodeName == "liqo-external1" && $0.metadata.deletionTimestamp == nil })

            try sim.sim.setPeer(cluster: "external2", reachable: true)
            _ = try await next(directory.changes(), within: .seconds(30)) { _ in
                directory.placement(for: key)?.status?.outcome == "failedBack"
                    && directory.record(namespace: Self.functions, name: "mover")?.cluster == "external2"
            }
            let back = try await placement("mover", client)
            #expect(back.spec.cluster == "external2")
            #expect(back.status?.failedOverFrom == nil)
        }
    }

    /// An operator pins a namespace, then rebalances through either replica: a dry run lists the
    /// moves and changes nothing; the real one records them and the leader moves the workloads.
    @Test func rebalancingMovesWhatThePinnedNamespaceRunsElsewhere() async throws {
        let rules = Self.teamRules(["external2", "external1"], ordered: true, top: ["direktivNamespaces: [team-b]"])
        try await withReplicas(rules: rules) { sim, a, b, client in
            try a.register(in: sim.sim, failurePolicy: "Fail")
            for name in ["one", "two"] {
                _ = try await client.create(function(name, namespace: "team-b", cpu: "100m"), .knativeServices, namespace: Self.functions)
            }
            let directory = b.agent.functions
            let keys = ["one", "two"].map { FunctionKey(namespace: Self.functions, name: $0) }
            _ = try await next(directory.changes()) { _ in keys.allSatisfy { directory.placement(for: $0)?.spec.cluster == "external2" } }
            let admin = AdminClient(port: b.adminPort, token: Self.token)
            let pinned = try await admin.call(.PUT, "/v1/namespaces/team-b/override", json: ["pin": "external1"])
            #expect(pinned.status == 201 || pinned.status == 200, "\(pinned.json)")
            _ = try await next(b.agent.overrides.changes()) { $0["team-b"]?.pin == "external1" }

            #expect(try await AdminClient(port: b.adminPort).call(.POST, "/v1/namespaces/team-b/rebalance", json: [:]).status == 401)
            #expect(try await admin.call(.POST, "/v1/namespaces/team-b/rebalance", json: ["dryRun": "yes"]).status == 400)
            #expect(try await admin.call(.POST, "/v1/namespaces/nobody/rebalance", json: [:]).status == 404)
            let dry = try await admin.call(.POST, "/v1/namespaces/team-b/rebalance", json: ["dryRun": true])
            #expect(dry.status == 200, "\(dry.json)")
            let planned = (dry.json["functions"]?.arrayValue ?? []).map {
                "\($0["name"]?.stringValue ?? "") \($0["from"]?.stringValue ?? "")->\($0["to"]?.stringValue ?? "")"
            }
            #expect(planned == ["one external2->external1", "two external2->external1"])
            #expect(try await placement("one", client).spec.cluster == "external2", "a dry run changes nothing")

            let done = try await admin.call(.POST, "/v1/namespaces/team-b/rebalance", json: [:])
            #expect(done.status == 200 && done.json["dryRun"] == false, "\(done.json)")
            _ = try await next(directory.changes(), within: .seconds(30)) { _ in
                keys.allSatisfy { directory.record(namespace: $0.namespace, name: $0.name)?.cluster == "external1" }
            }
            let moved = try await placement("one", client)
            #expect(moved.spec.cluster == "external1")
            #expect(moved.status?.outcome == "rebalanced")
            #expect(moved.status?.decidedBy == "agent-b", "the replica that answered records it; the leader moves the workload")
        }
    }
}
