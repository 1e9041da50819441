import DispatchAgent
import DispatchCore
import DispatchDoctor
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeClient
import KubeModels
import KubeSim
import NIOHTTP1
import TestSupport
import Testing

/// The admin API against a running agent on KubeSim: explanations agree with the webhook,
/// overrides persist in the ConfigMap and reach every replica, functions are created the
/// Direktiv way, and the token guards every change.
@Suite(.serialized) struct AdminAPIEndToEndTests {
    static let token = "s3cret-admin-token"
    static let functions = Scenario.functionsNamespace

    /// An agent with an admin token file, on a fresh simulator with its control plane.
    func withAgent(
        protectReads: Bool = false, functionsTarget: String? = nil, _ body: (SimHarness, AgentHarness, AdminClient, KubeClient) async throws -> Void
    ) async throws {
        let sim = try await SimHarness.start(controlPlane: true)
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        try "\(Self.token)\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML()) {
            $0.adminTokenFile = tokenFile.path
            $0.protectReads = protectReads
            $0.functionsTargetNamespace = functionsTarget
        }
        let client = try sim.client()
        try await withTeardown {
            try await body(sim, agent, AdminClient(port: agent.adminPort, token: Self.token), client)
        } teardown: {
            try? await client.shutdown()
            await agent.stop()
            await sim.stop()
        }
        try? FileManager.default.removeItem(at: tokenFile)
    }

    @Test func explainAgreesWithTheWebhook() async throws {
        try await withAgent { _, agent, admin, client in
            let explained = try await admin.call(.POST, "/v1/placements/explain", json: ["namespace": "team-a", "size": "medium"])
            #expect(explained.status == 200)
            let cluster = try #require(explained.json["cluster"]?.stringValue)
            #expect(explained.json["outcome"] == "placed")
            #expect(explained.json["rule"]?["match"] == "team-*")
            #expect(explained.json["rows"]?.arrayValue?.count == 3, "one row per cluster")

            let created = try await client.create(try exampleObject("direktiv/ksvc-0.6.7.json"), .knativeServices, namespace: Self.functions)
            #expect(created[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation]?.stringValue == cluster)

            // Explaining reserves nothing: the explanation for the same input stays the same
            // until a real placement reserves capacity.
            let reserving = try await client.list(
                FunctionPlacement.self, .functionPlacements, namespace: Self.functions,
                options: ListOptions(labelSelector: "\(FunctionPlacement.reservingLabel)=true"))
            #expect(reserving.items.map(\.key.name) == ["namespace-team-a-greeter"], "only the webhook's placement reserved")

            let byResources = try await admin.call(
                .POST, "/v1/placements/explain", json: ["namespace": "external1", "resources": ["cpu": "500m", "memory": "1Gi"]])
            #expect(byResources.status == 200)
            #expect(byResources.json["cluster"] == "external1")
            #expect(byResources.json["requestPerPod"]?["milliCPU"] == 500)

            for bad: JSONValue in [
                ["namespace": "team-a"], ["namespace": "team-a", "size": "huge"], ["size": "small"],
                ["namespace": "team-a", "size": "small", "bogus": 1],
            ] {
                let answer = try await admin.call(.POST, "/v1/placements/explain", json: bad)
                #expect(answer.status == 400, "\(bad)")
                #expect(answer.error?.isEmpty == false)
            }
        }
    }

    /// `GET /v1/doctor` runs the doctor with the agent's own rules and serving certificate: the
    /// webhook the harness registered with the agent's CA passes, a broken link is reported.
    @Test func doctorChecksTheClusterAsTheAgentSeesIt() async throws {
        try await withAgent { _, _, admin, client in
            let answer = try await admin.call(.GET, "/v1/doctor")
            #expect(answer.status == 200)
            #expect(answer.json["failed"] == false, "\(answer.json)")
            let findings = answer.json["findings"]?.arrayValue ?? []
            let webhook = findings.first { $0["check"] == "webhook" }
            #expect(webhook?["detail"]?.stringValue?.contains("caBundle signed the serving certificate") == true, "\(webhook ?? .null)")

            try await client.delete(.namespaceOffloadings, name: "offloading", namespace: Self.functions)
            let broken = try await admin.call(.GET, "/v1/doctor")
            #expect(broken.status == 200, "a failed check is a finding, not an error")
            #expect(broken.json["failed"] == true)
            let offloading = broken.json["findings"]?.arrayValue?.first { $0["check"] == "offloading-functions" }
            #expect(offloading?["status"] == "fail")
            #expect(offloading?["fix"]?.stringValue?.contains("kind: NamespaceOffloading") == true)
        }
    }

    @Test func overridesPersistAcrossAnAgentRestart() async throws {
        let sim = try await SimHarness.start(controlPlane: true)
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        try Self.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: tokenFile) }
        let configure: (inout AgentSettings) -> Void = { $0.adminTokenFile = tokenFile.path }

        let first = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), configure: configure)
        let admin = AdminClient(port: first.adminPort, token: Self.token)
        let put = try await admin.call(.PUT, "/v1/namespaces/team-a/override", json: ["pin": "external2"])
        #expect(put.status == 201)
        #expect(put.json["override"] == ["pin": "external2"])
        #expect(put.json["warnings"] == nil)
        let replaced = try await admin.call(
            .PUT, "/v1/namespaces/team-b/override", json: ["prefer": ["external2", "main"], "exclude": ["external1"]])
        #expect(replaced.status == 201)
        let explained = try await admin.call(.POST, "/v1/placements/explain", json: ["namespace": "team-a", "size": "small"])
        #expect(explained.json["cluster"] == "external2")
        #expect(explained.json["override"] == ["pin": "external2"])
        await first.stop()

        // Stored in the ConfigMap through the API server...
        let client = try sim.client()
        let stored = try await client.get(ConfigMap.self, .configMaps, name: "direktiv-dispatch-overrides", namespace: "direktiv-dispatch")
        #expect(stored.data?["team-a"] == #"{"pin":"external2"}"#)
        try await client.shutdown()

        // ...and a new agent starts with them.
        let second = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), configure: configure)
        _ = try await next(second.agent.overrides.changes()) { $0.count == 2 }
        let restarted = AdminClient(port: second.adminPort, token: Self.token)
        let all = try await restarted.call(.GET, "/v1/overrides")
        #expect(all.json["overrides"] == ["team-a": ["pin": "external2"], "team-b": ["prefer": ["external2", "main"], "exclude": ["external1"]]])
        let one = try await restarted.call(.GET, "/v1/namespaces/team-a/override")
        #expect(one.status == 200 && one.json["override"] == ["pin": "external2"])
        let again = try await restarted.call(.POST, "/v1/placements/explain", json: ["namespace": "team-a", "size": "small"])
        #expect(again.json["cluster"] == "external2")

        #expect(try await restarted.call(.DELETE, "/v1/namespaces/team-a/override").status == 204)
        #expect(try await restarted.call(.DELETE, "/v1/namespaces/team-a/override").status == 404)
        #expect(try await restarted.call(.GET, "/v1/namespaces/team-a/override").status == 404)
        await second.stop()
        await sim.stop()
    }

    @Test func concurrentChangesThroughTwoReplicasAreAllKept() async throws {
        let sim = try await SimHarness.start(controlPlane: true)
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        try Self.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: tokenFile) }
        let configure: (inout AgentSettings) -> Void = { $0.adminTokenFile = tokenFile.path }
        let one = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), configure: configure)
        let two = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), configure: configure)
        let replicas = [AdminClient(port: one.adminPort, token: Self.token), AdminClient(port: two.adminPort, token: Self.token)]
        let namespaces = ["main", "external1", "external2", "team-a", "team-b"]
        let clusters = ["main", "external1", "external2"]

        // Every namespace written by both replicas at once, with different values.
        let answers = try await withThrowingTaskGroup(of: (String, Int, Int).self) { group in
            for (index, namespace) in namespaces.enumerated() {
                for replica in 0..<2 {
                    group.addTask {
                        let answer = try await replicas[replica].call(
                            .PUT, "/v1/namespaces/\(namespace)/override", json: ["pin": .string(clusters[(index + replica) % 3])])
                        return (namespace, replica, answer.status)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (namespace, replica, status) in answers {
            #expect([200, 201, 409].contains(status), "\(namespace) via replica \(replica): \(status)")
        }
        let client = try sim.client()
        let stored = try await client.get(ConfigMap.self, .configMaps, name: "direktiv-dispatch-overrides", namespace: "direktiv-dispatch")
        try await client.shutdown()
        let table = NamespaceOverride.table(configMapData: stored.data ?? [:]).overrides
        for namespace in namespaces {
            let accepted = answers.filter { $0.0 == namespace && $0.2 != 409 }
            // Whatever a replica acknowledged was stored: no acknowledged write was lost.
            #expect(!accepted.isEmpty, "\(namespace): at least one write lands")
            let values = accepted.map { clusters[(namespaces.firstIndex(of: namespace)! + $0.1) % 3] }
            #expect(
                values.contains(table[namespace]?.pin ?? "none"), "\(namespace): stored \(table[namespace]?.pin ?? "none"), acknowledged \(values)")
        }
        // Both replicas apply the same overrides through the watch.
        _ = try await next(one.agent.overrides.changes()) { $0 == table }
        _ = try await next(two.agent.overrides.changes()) { $0 == table }
        await one.stop()
        await two.stop()
        await sim.stop()
    }

    /// Overrides of different namespaces share one ConfigMap but are independent: writing many at
    /// once through two replicas must land every one, though their updates conflict on the object.
    @Test func concurrentChangesOfDifferentNamespacesAllLand() async throws {
        let sim = try await SimHarness.start(controlPlane: true)
        let one = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML())
        let two = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML())
        let stores = [one.agent.overrides, two.agent.overrides]
        let namespaces = (0..<24).map { "team-\($0)" }
        let clusters = ["main", "external1", "external2"]

        let failures = await withTaskGroup(of: String?.self) { group in
            for (index, namespace) in namespaces.enumerated() {
                group.addTask {
                    do {
                        try await stores[index % 2].set(NamespaceOverride(pin: clusters[index % 3]), for: namespace)
                        return nil
                    } catch {
                        return "\(namespace): \(error)"
                    }
                }
            }
            return await group.reduce(into: [String]()) { if let failure = $1 { $0.append(failure) } }
        }
        #expect(failures.isEmpty, "\(failures)")
        let client = try sim.client()
        let stored = try await client.get(ConfigMap.self, .configMaps, name: "direktiv-dispatch-overrides", namespace: "direktiv-dispatch")
        try await client.shutdown()
        let table = NamespaceOverride.table(configMapData: stored.data ?? [:]).overrides
        for (index, namespace) in namespaces.enumerated() {
            #expect(table[namespace]?.pin == clusters[index % 3], "\(namespace)")
        }
        _ = try await next(one.agent.overrides.changes()) { $0 == table }
        _ = try await next(two.agent.overrides.changes()) { $0 == table }
        await one.stop()
        await two.stop()
        await sim.stop()
    }

    @Test func badOverridesChangeNothing() async throws {
        try await withAgent { _, agent, admin, _ in
            #expect(try await admin.call(.PUT, "/v1/namespaces/team-a/override", json: ["pin": "main"]).status == 201)
            let before = agent.agent.state.overrides

            let cases: [(JSONValue?, [UInt8]?, String, Int)] = [
                (nil, Array("{\"pin\": ".utf8), "team-a", 400),
                (["pin": 3], nil, "team-a", 400),
                (["pin": "main", "exclude": ["main"]], nil, "team-a", 400),
                (["pn": "main"], nil, "team-a", 400),
                (["pin": "main"], nil, "no-such-namespace", 404),
                (nil, Array(repeating: UInt8(ascii: " "), count: 70 * 1024) + Array("{}".utf8), "team-a", 413),
            ]
            for (json, raw, namespace, status) in cases {
                let answer = try await admin.call(.PUT, "/v1/namespaces/\(namespace)/override", json: json, raw: raw)
                #expect(answer.status == status, "\(json.map { "\($0)" } ?? "raw body"): \(answer.json)")
                #expect(answer.error?.isEmpty == false, "an error message for \(status)")
            }
            let wrongType = try await admin.call(
                .PUT, "/v1/namespaces/team-a/override", raw: Array("pin=main".utf8), headers: [("Content-Type", "text/plain")])
            #expect(wrongType.status == 400)
            #expect(agent.agent.state.overrides == before, "refused bodies change nothing")

            // A cluster that does not exist now is stored, with a warning.
            let unknown = try await admin.call(.PUT, "/v1/namespaces/team-b/override", json: ["prefer": ["edge-9", "main"]])
            #expect(unknown.status == 201)
            #expect(unknown.json["warnings"]?.arrayValue?.first?.stringValue?.contains("edge-9") == true)
        }
    }

    @Test func changesNeedTheTokenAndReadsCanBeProtected() async throws {
        try await withAgent { _, _, admin, _ in
            var anonymous = admin
            anonymous.token = nil
            let missing = try await anonymous.call(.PUT, "/v1/namespaces/team-a/override", json: ["pin": "main"])
            #expect(missing.status == 401)
            #expect(missing.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            var wrong = admin
            wrong.token = "not-the-token"
            #expect(try await wrong.call(.PUT, "/v1/namespaces/team-a/override", json: ["pin": "main"]).status == 403)
            #expect(try await wrong.call(.POST, "/v1/functions", json: ["namespace": "team-a", "name": "x", "image": "i"]).status == 403)
            #expect(try await anonymous.call(.DELETE, "/v1/namespaces/team-a/override").status == 401)
            #expect(try await anonymous.call(.GET, "/v1/overrides").json["overrides"] == [:], "the refused calls stored nothing")
            // Reads are open by default, explain included.
            #expect(try await anonymous.call(.GET, "/v1/clusters").status == 200)
            #expect(try await anonymous.call(.POST, "/v1/placements/explain", json: ["namespace": "main", "size": "small"]).status == 200)
        }
        try await withAgent(protectReads: true) { _, _, admin, _ in
            var anonymous = admin
            anonymous.token = nil
            let clusters = try await anonymous.call(.GET, "/v1/clusters")
            let explain = try await anonymous.call(.POST, "/v1/placements/explain", json: ["namespace": "main", "size": "small"])
            let authorized = try await admin.call(.GET, "/v1/clusters")
            let health = try await anonymous.call(.GET, "/healthz")
            #expect(clusters.status == 401)
            #expect(explain.status == 401)
            #expect(authorized.status == 200)
            #expect(health.status == 200, "health stays open for probes")
        }
    }

    @Test func withoutATokenFileChangesAreRefused() async throws {
        let sim = try await SimHarness.start(controlPlane: true)
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML()) { $0.adminTokenFile = "/nonexistent/token" }
        let answer = try await AdminClient(port: agent.adminPort, token: "anything").call(
            .PUT, "/v1/namespaces/team-a/override", json: ["pin": "main"])
        #expect(answer.status == 403)
        #expect(answer.error?.contains("no admin token is configured") == true)
        await agent.stop()
        await sim.stop()
    }

    @Test func clustersShowCapacityAndHealth() async throws {
        try await withAgent { sim, agent, admin, _ in
            let answer = try await admin.call(.GET, "/v1/clusters")
            #expect(answer.status == 200)
            let clusters = answer.json["clusters"]?.arrayValue ?? []
            #expect(clusters.compactMap { $0["name"]?.stringValue } == ["external1", "external2", "main"])
            let external1 = try #require(clusters.first { $0["name"] == "external1" })
            #expect(external1["kind"] == "virtual")
            #expect(external1["remoteClusterIDs"]?.arrayValue?.isEmpty == false)
            #expect(external1["ready"] == true)
            #expect(external1["nodes"] == 1)
            let allocatable = try #require(external1["allocatable"]?["milliCPU"]?.integerValue)
            let requested = try #require(external1["requested"]?["milliCPU"]?.integerValue)
            #expect(external1["free"]?["milliCPU"]?.integerValue == allocatable - requested)
            #expect(clusters.first { $0["name"] == "main" }?["kind"] == "local")

            _ = try sim.sim.setPeer(cluster: "external2", reachable: false)
            _ = try await next(agent.agent.inventory.snapshots()) { $0.cluster(named: "external2")?.isReady == false }
            let down = try await admin.call(.GET, "/v1/clusters")
            let external2 = try #require(down.json["clusters"]?.arrayValue?.first { $0["name"] == "external2" })
            #expect(external2["reasons"]?.arrayValue?.isEmpty == false)
        }
    }

    /// Issue 23, item 4: with no token value in the chart the agent keeps the token in a Secret
    /// it creates, so the chart renders the same bytes every time; replicas share it.
    @Test func theAdminTokenSecretIsCreatedOnceAndSharedByReplicas() async throws {
        let sim = try await SimHarness.start(controlPlane: true)
        let configure: (inout AgentSettings) -> Void = {
            $0.adminTokenFile = "/nonexistent/token"
            $0.adminTokenSecret = "dispatch-admin-token"
            $0.namespace = "direktiv-dispatch"
        }
        let first = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), configure: configure)
        let second = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML(), configure: configure)
        let client = try sim.client()
        try await withTeardown {
            try await first.agent.adminTokenSecret?.reconcile()
            try await second.agent.adminTokenSecret?.reconcile()
            let token = try #require(
                try await client.get(Secret.self, .secrets, name: "dispatch-admin-token", namespace: "direktiv-dispatch").text("token"))
            #expect(token.count == 64, "32 random bytes, hex")
            for agent in [first, second] {
                #expect(
                    try await AdminClient(port: agent.adminPort, token: "wrong").call(
                        .PUT, "/v1/namespaces/team-a/override", json: ["pin": "external2"]
                    ).status == 403)
                #expect(
                    [200, 201].contains(
                        try await AdminClient(port: agent.adminPort, token: token).call(
                            .PUT, "/v1/namespaces/team-a/override", json: ["pin": "external2"]
                        ).status))
            }
            // Rotating is editing the Secret.
            _ = try await client.patch(
                JSONValue.self, .secrets, name: "dispatch-admin-token", namespace: "direktiv-dispatch",
                patch: .merge(["stringData": ["token": "rotated"]]))
            try await first.agent.adminTokenSecret?.reconcile()
            #expect(
                try await AdminClient(port: first.adminPort, token: token).call(.PUT, "/v1/namespaces/team-a/override", json: ["pin": "external2"])
                    .status == 403)
            #expect(
                try await AdminClient(port: first.adminPort, token: "rotated").call(
                    .PUT, "/v1/namespaces/team-a/override", json: ["pin": "external2"]
                ).status == 200)
        } teardown: {
            try? await client.shutdown()
            await first.stop()
            await second.stop()
            await sim.stop()
        }
    }

    /// Issue 23, item 6: with no target namespace the agent used to create Services in the first
    /// functions namespace, Direktiv's own, where Direktiv >= 0.8.1 deletes them again.
    @Test func withoutATargetNamespaceTheFunctionsAPIIsDisabled() async throws {
        try await withAgent { _, _, admin, client in
            let spec: JSONValue = ["namespace": "external1", "name": "resizer", "image": "direktiv/image-resize:v1"]
            let created = try await admin.call(.POST, "/v1/functions", json: spec)
            #expect(created.status == 501)
            #expect(created.json["error"]?.stringValue?.contains("functions API is disabled") == true, "\(created.json)")
            #expect(try await admin.call(.DELETE, "/v1/functions/external1/resizer").status == 501)
            let listed = try await client.list(JSONValue.self, .knativeServices, namespace: Self.functions)
            #expect(listed.items.isEmpty, "nothing was created")
            #expect(try await admin.call(.GET, "/v1/functions").status == 200, "reading stays available")
        }
    }

    @Test func functionsCreatedThroughTheAPIArePlacedAndValid() async throws {
        try await withAgent(functionsTarget: Self.functions) { _, agent, admin, client in
            let spec: JSONValue = [
                "namespace": "external1", "name": "resizer", "image": "direktiv/image-resize:v1", "cmd": "/bin/resize --fast", "size": "small",
                "minScale": 1, "envs": ["MODE": "thumb"],
            ]
            let created = try await admin.call(.POST, "/v1/functions", json: spec)
            #expect(created.status == 201, "\(created.json)")
            #expect(created.json["placement"]?["cluster"] == "external1")
            #expect(created.json["kubernetesNamespace"] == .string(Self.functions))

            let object = try await client.get(JSONValue.self, .knativeServices, name: "resizer", namespace: Self.functions)
            try writeKnativeArtifact(object, name: "admin-api-created-resizer")
            #expect(object[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation] == "external1")
            #expect(object[path: "metadata", "labels", "app.kubernetes.io/managed-by"] == "direktiv-dispatch")
            let container = object[path: "spec", "template", "spec", "containers"]?.arrayValue?.first
            #expect(container?["command"] == ["/bin/resize", "--fast"])

            // The directory sees it, and Knative (the simulated control plane) makes it Ready.
            _ = try await next(agent.agent.functions.changes()) { records in records.contains { $0.key.name == "resizer" && $0.isReady } }
            let listed = try await admin.call(.GET, "/v1/functions")
            let entry = try #require(listed.json["functions"]?.arrayValue?.first { $0["name"] == "resizer" })
            #expect(entry["cluster"] == "external1")
            #expect(entry["direktivNamespace"] == "external1")
            #expect(entry["ready"] == true)
            #expect(entry["placement"]?["outcome"] != nil)
            #expect(entry["url"]?.stringValue?.hasPrefix("http://resizer.\(Self.functions)") == true)

            #expect(try await admin.call(.POST, "/v1/functions", json: spec).status == 409)
            #expect(try await admin.call(.POST, "/v1/functions", json: spec.replacing(["name"], with: "Bad_Name")).status == 400)
            #expect(
                try await admin.call(.POST, "/v1/functions", json: spec.replacing(["name"], with: .string(String(repeating: "a", count: 64)))).status
                    == 400)
            #expect(try await admin.call(.POST, "/v1/functions", json: spec.replacing(["size"], with: "huge")).status == 400)
            #expect(
                try await admin.call(.POST, "/v1/functions", json: spec.replacing(["name"], with: "other").replacing(["namespace"], with: "nobody"))
                    .status == 404)

            // Only what the API created can be deleted through it.
            _ = try await client.create(try exampleObject("direktiv/ksvc-0.6.7.json"), .knativeServices, namespace: Self.functions)
            #expect(try await admin.call(.DELETE, "/v1/functions/team-a/namespace-team-a-greeter").status == 403)
            #expect(try await admin.call(.DELETE, "/v1/functions/team-a/resizer").status == 404, "wrong Direktiv namespace")
            #expect(try await admin.call(.DELETE, "/v1/functions/external1/resizer").status == 204)
            #expect(try await admin.call(.DELETE, "/v1/functions/external1/resizer").status == 404)
        }
    }
}
