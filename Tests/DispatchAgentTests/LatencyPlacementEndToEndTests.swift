import DispatchAgent
import DispatchCore
import DispatchPrometheus
import Foundation
import KubeClient
import KubeModels
import KubeSim
import NIOCore
import TestSupport
import Testing

/// Issue 22 end to end: Liqo's measured round trip (the peers' Connection objects, as KubeSim's
/// `setPeerLatency` sets them) decides where a `lowest-latency` rule places new functions.
@Suite(.serialized) struct LatencyPlacementEndToEndTests {
    static let rules = """
        direktivNamespaces: [team-a]
        namespaces:
          - match: "team-*"
            clusters: [external1, external2]
            strategy: lowest-latency
          - match: "*"
            clusters: [main]
        """

    func cluster(_ object: JSONValue) -> String? {
        object[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation]?.stringValue
    }

    func function(_ name: String) throws -> JSONValue {
        try exampleObject("direktiv/ksvc-0.6.7.json").setting(path: ["metadata", "name"], .string(name))
            .setting(path: ["metadata", "labels", "direktiv.io/namespace-name"], "team-a")
    }

    @Test func theLowestMeasuredRoundTripDecidesAndFollowsItsChanges() async throws {
        let sim = try await SimHarness.start()
        try sim.sim.setPeerLatency(cluster: "external1", milliseconds: 60)
        try sim.sim.setPeerLatency(cluster: "external2", milliseconds: 5)
        let agent = try await AgentHarness.start(sim: sim, rules: Self.rules) { $0.latencyInterval = .milliseconds(50) }
        let client = try sim.client()
        try await withTeardown {
            let state = agent.agent.state
            #expect(try await eventually { state.latencies["external2"]?.liqo?.seconds == 0.005 })
            #expect(state.latencies["main"]?.estimate(at: Date())?.source == .local, "a local cluster counts as 0 ms")
            // Least-loaded alone would take external1 (more room relative to its size).
            var leastLoaded = try RulesParser.parse(Self.rules)
            leastLoaded.namespaces[0].strategy = .leastLoaded
            let byCapacity = Placement.decide(
                PlacementRequest(direktivNamespace: "team-a", requestPerPod: Resources(milliCPU: 100, memoryBytes: 64_000_000)), rules: leastLoaded,
                inventory: agent.agent.inventory.snapshot)
            #expect(byCapacity.cluster == "external1")

            let first = try await client.create(try function("team-a-csv"), .knativeServices, namespace: Scenario.functionsNamespace)
            #expect(cluster(first) == "external2", "5 ms beats 60 ms")

            try sim.sim.setPeerLatency(cluster: "external2", milliseconds: 90)
            #expect(try await eventually { state.latencies["external2"]?.liqo?.seconds == 0.09 })
            let second = try await client.create(try function("team-a-pdf"), .knativeServices, namespace: Scenario.functionsNamespace)
            #expect(cluster(second) == "external1", "the next decision follows the new latency")
            #expect(
                cluster(try await client.get(JSONValue.self, .knativeServices, name: "team-a-csv", namespace: Scenario.functionsNamespace))
                    == "external2",
                "latency moves nothing by itself")

            let explained = agent.agent.placer.explain(
                PlacementRequest(direktivNamespace: "team-a", requestPerPod: Resources(milliCPU: 100, memoryBytes: 64_000_000)))
            #expect(explained.row(for: "external2")?.latency?.text.hasPrefix("90.0 ms (liqo") == true, "\(explained.renderText())")
            let metrics = String(buffer: agent.prometheus.render())
            #expect(metrics.contains(#"direktiv_dispatch_cluster_latency_seconds{cluster="external1",source="liqo"} 0.06"#), "\(metrics)")

            // Without external1's Connection its latency is unknown: it ranks last.
            let connections = try Scenario.bundledType("connections.networking.liqo.io")
            for connection in try sim.sim.store.list(connections).items where connection[path: "metadata", "name"] == "gw-external1" {
                _ = try sim.sim.store.delete(connections, namespace: connection[path: "metadata", "namespace"]?.stringValue, name: "gw-external1")
            }
            #expect(try await eventually { state.latencies["external1"]?.liqo == nil })
            let unknown = agent.agent.placer.explain(
                PlacementRequest(direktivNamespace: "team-a", requestPerPod: Resources(milliCPU: 100, memoryBytes: 64_000_000)))
            #expect(unknown.cluster == "external2", "a known 90 ms beats an unknown latency")
            #expect(unknown.renderText().contains("unknown"), "\(unknown.renderText())")
        } teardown: {
            try? await client.shutdown()
            await agent.stop()
            await sim.stop()
        }
    }
}
