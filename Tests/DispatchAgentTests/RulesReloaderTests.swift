import AsyncHTTPClient
import DispatchAgent
import DispatchCertificates
import DispatchCore
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeSim
import Logging
import MetricsTestKit
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import TestSupport
import Testing

@Suite struct RulesReloaderTests {
    @Test func appliesValidChangesAndKeepsTheLastGoodRules() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("rules.yaml").path
        try "clusterLabel: a.example/cluster\n".write(toFile: path, atomically: true, encoding: .utf8)
        let (rules, contents) = try RulesReloader.load(path: path)
        let state = AgentState(rules: rules)
        let metrics = TestMetrics()
        let applied = Recorder<Rules>()
        let reloader = RulesReloader(path: path, state: state, metrics: DispatchMetrics(factory: metrics), logger: Logger(label: "rules-test")) {
            applied.append($0)
        }
        reloader.loaded(contents)

        #expect(reloader.reload(reason: "test") == .unchanged)
        try "clusterLabel: b.example/cluster\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(reloader.reload(reason: "test") == .applied)
        #expect(state.rules.clusterLabel == "b.example/cluster")
        #expect(applied.all.map(\.clusterLabel) == ["b.example/cluster"])

        try "clusterLabel: [not, a, label]\nbogus: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        guard case .refused(let why) = reloader.reload(reason: "test") else {
            Issue.record("invalid rules must be refused")
            return
        }
        #expect(why.contains("bogus"))
        #expect(state.rules.clusterLabel == "b.example/cluster", "the last good rules stay")
        #expect(try metrics.expectCounter("direktiv_dispatch_rules_reload_failures_total").totalValue == 1)

        // A ConfigMap volume swaps a symlink; the content is what counts.
        let target = directory.appendingPathComponent("..2026_11_25").path
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try "clusterLabel: c.example/cluster\n".write(toFile: target + "/rules.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target + "/rules.yaml")
        #expect(reloader.reload(reason: "test") == .applied)
        #expect(state.rules.clusterLabel == "c.example/cluster")
    }

    @Test func startRefusesInvalidRulesWithPositions() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).yaml").path
        try "clusterLable: x\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try RulesReloader.load(path: path)
            Issue.record("invalid rules must stop the start")
        } catch {
            #expect(error.description.contains("\(path):1:1: clusterLable: unknown key"))
        }
    }
}
