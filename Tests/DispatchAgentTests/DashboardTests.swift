import DispatchAgent
import DispatchCore
import DispatchMetrics
import DispatchPrometheus
import Foundation
import KubeClient
import KubeSim
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// The chart's Grafana dashboard held against a live scrape: every query of every panel,
/// evaluated by Prometheus' own engine (promtool) over what the agent exports after it placed
/// one function and proxied one call, returns data. A panel that says "No data" on a healthy
/// install (a counter that appears only at its first event) fails here.
@Suite struct DashboardTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every panel's queries, with Grafana's variables made PromQL: `$__rate_interval` a fixed
    /// window, every other variable (cluster, Direktiv namespace: "All") a match-anything regex.
    static func dashboardQueries() throws -> [(panel: String, expr: String)] {
        let data = try Data(contentsOf: root.appendingPathComponent("charts/direktiv-dispatch/dashboards/direktiv-dispatch.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var queries: [(String, String)] = []
        func visit(_ panels: [[String: Any]]) {
            for panel in panels {
                let title = panel["title"] as? String ?? "untitled"
                for target in panel["targets"] as? [[String: Any]] ?? [] {
                    if let expr = target["expr"] as? String { queries.append((title, expr)) }
                }
                visit(panel["panels"] as? [[String: Any]] ?? [])
            }
        }
        visit(dashboard["panels"] as? [[String: Any]] ?? [])
        return queries.map { title, expr in
            var promQL = expr.replacingOccurrences(of: "$__rate_interval", with: "5m")
            promQL = promQL.replacingOccurrences(of: #"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?"#, with: ".*", options: .regularExpression)
            return (title, promQL)
        }
    }

    /// The exposition's samples as promtool input series: each value held for the whole test.
    static func inputSeries(_ exposition: String) -> [(series: String, values: String)] {
        exposition.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " ") else { return nil }
            let value = line[line.index(after: space)...]
            let number = value == "NaN" || value.hasSuffix("Inf") ? "0" : String(value)
            return (String(line[..<space]), "\(number)+0x30")
        }
    }

    @Test(.enabled(if: Promtool.path != nil, "promtool (Debian package prometheus) is not installed"))
    func everyPanelHasDataAfterOnePlacementAndOneCall() async throws {
        let queries = try Self.dashboardQueries()
        #expect(queries.count >= 20)
        let sim = try await SimHarness.start(functions: FunctionServers.Options())
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML())
        let client = try sim.client()
        let exposition = try await withTeardown {
            let spec = FunctionSpec(namespace: "team-a", name: "watched", image: "direktiv/echo:v1", size: .small, minScale: 1)
            let object = try DirektivServiceBuilder.knativeService(
                spec, namespace: Scenario.functionsNamespace, sizes: .direktivDefaults, sidecarImage: "direktiv/sidecar:v0.8.10")
            _ = try await client.create(object, .knativeServices, namespace: Scenario.functionsNamespace)
            _ = try await next(agent.agent.functions.changes(), within: .seconds(30)) { records in
                records.contains { $0.key.name == "watched" && $0.isReady }
            }
            let host = "watched.\(Scenario.functionsNamespace)"
            let status = try await withHTTP1Connection(port: agent.proxyPort) { connection in
                try await connection.request(
                    .POST, "http://\(host)/", headers: [("Host", host), ("Content-Type", "application/json")], body: Array("{}".utf8)
                ).status
            }
            #expect(status == 200)
            return String(buffer: agent.prometheus.render())
        } teardown: {
            try? await client.shutdown()
            await agent.stop()
            await sim.stop()
        }

        // One alert per query, firing when the query returns nothing; the test expects none.
        // A comparison filter (`== 1`: "which flags are disabled") may rightly be empty, so its
        // left side is what must have data.
        var rules = "groups:\n  - name: dashboard\n    rules:\n"
        var tests = "rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"
        for (series, values) in Self.inputSeries(exposition) {
            tests += "      - series: '\(series.replacingOccurrences(of: "'", with: "''"))'\n        values: '\(values)'\n"
        }
        tests += "    alert_rule_test:\n"
        for (index, query) in queries.enumerated() {
            let expr = query.expr.replacingOccurrences(of: #"\s*(==|!=|>|<)\s*[0-9.]+\s*$"#, with: "", options: .regularExpression)
            rules += "      - alert: NoData\(index)\n        expr: 'absent(\(expr.replacingOccurrences(of: "'", with: "''")))'\n"
            rules += "        labels: {panel: '\(query.panel.replacingOccurrences(of: "'", with: "''"))'}\n"
            tests += "      - eval_time: 20m\n        alertname: NoData\(index)\n        exp_alerts: []\n"
        }
        let (code, output) = try await Promtool.testRules(rules: rules, tests: tests)
        #expect(code == 0, "panels without data:\n\(output)")
    }
}
