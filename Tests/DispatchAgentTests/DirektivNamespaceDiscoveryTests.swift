import DispatchAgent
import DispatchCore
import DispatchMetrics
import Foundation
import KubeClient
import KubeModels
import KubeSim
import Logging
import MetricsTestKit
import TestSupport
import Testing

/// Issue 21, part 2: the agent learns Direktiv's namespaces from its API, so a function of a
/// namespace nobody listed in the rules is recognised and placed by its own rule.
@Suite(.serialized) struct DirektivNamespaceDiscoveryTests {
    func keyFile(_ key: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("direktiv-key-\(UUID().uuidString)").path
        try key.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsTheNamespacesWithTheKeyAndReportsOnlyChanges() async throws {
        let api = try await FakeDirektivAPI.start(namespaces: ["team-c", "system"], key: "s3cret")
        defer { api.stop() }
        let state = AgentState(rules: Rules(direktivNamespaces: ["main"]))
        let changes = Recorder<Int>()
        var settings = DirektivNamespaceDiscovery.Settings(baseURL: api.url)
        settings.keyFile = try keyFile("s3cret\n")
        let discovery = DirektivNamespaceDiscovery(settings: settings, state: state, logger: Logger(label: "discovery-test")) {
            changes.append(1)
        }

        #expect(await discovery.refresh() == .listed(DirektivNamespaceList(names: ["system", "team-c"])))
        #expect(state.discoveredNamespaces == ["system", "team-c"])
        #expect(state.direktivNamespaces == ["main", "system", "team-c"], "the rules' names first, then the discovered ones")
        let headers = try #require(api.received.all.first)
        #expect(headers["direktiv-api-key"] == "s3cret", "Direktiv 0.9+ reads this header")
        #expect(headers["direktiv-token"] == "s3cret", "Direktiv 0.8 reads this one")

        _ = await discovery.refresh()
        #expect(changes.all.count == 1, "the same list changes nothing")
        api.setNamespaces(["team-c", "team-d"])
        _ = await discovery.refresh()
        #expect(state.discoveredNamespaces == ["team-c", "team-d"], "a deleted namespace is forgotten, a new one learned")
        #expect(changes.all.count == 2)
    }

    @Test func aFailedReadKeepsTheLastListAndIsCounted() async throws {
        let api = try await FakeDirektivAPI.start(namespaces: ["team-c"], key: "s3cret")
        let state = AgentState(rules: Rules())
        let metrics = TestMetrics()
        var settings = DirektivNamespaceDiscovery.Settings(baseURL: api.url + "/")
        settings.keyFile = try keyFile("s3cret")
        let logger = Logger(label: "discovery-test")
        let discovery = DirektivNamespaceDiscovery(settings: settings, state: state, metrics: DispatchMetrics(factory: metrics), logger: logger)
        _ = await discovery.refresh()
        #expect(state.discoveredNamespaces == ["team-c"])

        settings.keyFile = try keyFile("wrong")
        let wrongKey = DirektivNamespaceDiscovery(settings: settings, state: state, metrics: DispatchMetrics(factory: metrics), logger: logger)
        guard case .failed(let why) = await wrongKey.refresh() else {
            Issue.record("a refused key must fail")
            return
        }
        #expect(why.contains("HTTP 401") && why.contains("--direktiv-api-key-file"), "\(why)")

        settings.keyFile = "/nonexistent/key"
        guard case .failed(let unreadable) = await DirektivNamespaceDiscovery(settings: settings, state: state, logger: logger).refresh() else {
            Issue.record("an unreadable key file must fail")
            return
        }
        #expect(unreadable.contains("cannot read the API key file"))

        settings.keyFile = try keyFile("line\nbreak")
        guard case .failed(let twoLines) = await DirektivNamespaceDiscovery(settings: settings, state: state, logger: logger).refresh() else {
            Issue.record("a key that cannot be a header value must fail")
            return
        }
        #expect(twoLines.contains("no usable key"))

        api.stop()
        settings.keyFile = try keyFile("s3cret")
        settings.timeout = .seconds(2)
        let down = DirektivNamespaceDiscovery(settings: settings, state: state, metrics: DispatchMetrics(factory: metrics), logger: logger)
        guard case .failed = await down.refresh() else {
            Issue.record("an unreachable API must fail")
            return
        }
        #expect(state.discoveredNamespaces == ["team-c"], "a Direktiv restart must not make functions unknown")
        #expect(try metrics.expectCounter(DispatchMetrics.Name.direktivAPIFailures).totalValue == 2)
    }

    @Test func baseURLsAreCheckedAndNormalised() {
        #expect(DirektivNamespaceDiscovery.Settings.baseURL("http://direktiv-flow.direktiv:6665/") == "http://direktiv-flow.direktiv:6665")
        #expect(DirektivNamespaceDiscovery.Settings.baseURL("https://direktiv.example/prefix//") == "https://direktiv.example/prefix")
        for bad in ["direktiv-flow:6665", "ftp://x", "http://", "http://x/?a=1", "http://x/#f", ""] {
            #expect(DirektivNamespaceDiscovery.Settings.baseURL(bad) == nil, "\(bad)")
        }
    }

    /// The whole chain on KubeSim: Direktiv 0.10 names a Deployment `<namespace>-<function>...`.
    /// Before Direktiv's API lists `team-c`, its function is placed by the catch-all rule (main);
    /// once listed, the next one is placed by `team-*`, and the first is recognised too.
    @Test func aFunctionOfAnUnlistedNamespaceIsPlacedByItsRuleOnceDirektivListsIt() async throws {
        let api = try await FakeDirektivAPI.start(namespaces: ["team-a"])
        let sim = try await SimHarness.start()
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML()) { settings in
            var discovery = DirektivNamespaceDiscovery.Settings(baseURL: api.url)
            discovery.interval = .milliseconds(100)
            settings.direktivAPI = discovery
        }
        let client = try sim.client()
        try await withTeardown {
            func create(_ name: String) async throws -> JSONValue {
                let object = try exampleObject("direktiv/deployment-0.10.json").setting(path: ["metadata", "name"], .string(name))
                    .setting(path: ["spec", "template", "metadata", "labels", "direktiv-service"], .string(name))
                    .setting(path: ["spec", "selector", "matchLabels", "direktiv-service"], .string(name))
                return try await client.create(object, .deployments, namespace: Scenario.functionsNamespace)
            }
            func cluster(_ object: JSONValue) -> String? {
                object[
                    path: "spec", "template", "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                    "nodeSelectorTerms"]?[
                        0]?["matchExpressions"]?[0]?["values"]?[0]?.stringValue
            }
            #expect(try await eventually { agent.agent.state.discoveredNamespaces == ["team-a"] })
            let first = try await create("team-c-resize-flows-images-yaml-9f2e6a1c0d")
            #expect(cluster(first) == "main", "unknown namespace: the catch-all rule decides")

            api.setNamespaces(["team-a", "team-c"])
            #expect(try await eventually { agent.agent.state.discoveredNamespaces.contains("team-c") })
            let second = try await create("team-c-mailer-flows-mail-yaml-0a1b2c3d4e")
            #expect(["external1", "external2"].contains(cluster(second) ?? ""), "placed by team-*: \(cluster(second) ?? "none")")
            #expect(
                try await eventually {
                    agent.agent.functions.records.first { $0.key.name.hasPrefix("team-c-resize") }?.identity.direktivNamespace == "team-c"
                }, "the function placed before is recognised now")
        } teardown: {
            try? await client.shutdown()
            await agent.stop()
            await sim.stop()
            api.stop()
        }
    }
}
