import DispatchAgent
import DispatchCore
import Foundation
import KubeClient
import KubeModels
import KubeSim
import TestSupport

/// Failover timings on KubeSim with the agent's default upkeep interval (5 s) and leader timings:
///
/// - `failover-bench loss RUNS GRACE AFTER`: one function on external2; external2 is lost, and
///   the time until the function is Ready on external1 is measured, split into its stages (the
///   virtual node turning NotReady after GRACE seconds, the leader recording the move once the
///   cluster has been unschedulable for AFTER seconds, the new revision Ready); then external2
///   returns and the time until the function is Ready there again is measured. RUNS times.
/// - `failover-bench many COUNT MOVES GRACE AFTER`: COUNT functions on external2, external2 lost;
///   the time until all of them are Ready on external1 with `maxMovesPerMinute: MOVES`, and how
///   many had moved at each minute.
///
/// The times are set by clocks (grace, afterSeconds, the upkeep interval, the simulated pod
/// start), not by CPU: a debug build measures the same.
@main
enum FailoverBench {
    static let functions = Scenario.functionsNamespace

    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let numbers = arguments.dropFirst().compactMap { Int($0) }
        switch (arguments.first, numbers.count) {
        case ("loss", 3):
            try await loss(runs: numbers[0], grace: numbers[1], after: numbers[2])
        case ("many", 4):
            try await many(count: numbers[0], moves: numbers[1], grace: numbers[2], after: numbers[3])
        default:
            FileHandle.standardError.write(Data("usage: failover-bench loss RUNS GRACE AFTER | many COUNT MOVES GRACE AFTER\n".utf8))
            exit(2)
        }
    }

    static func rules(after: Int, moves: Int) -> String {
        """
        clusterLabel: direktiv.io/namespace
        functionsNamespaces: [\(functions)]
        failover: {afterSeconds: \(after), maxMovesPerMinute: \(moves)}
        namespaces:
          - match: "team-*"
            clusters: [external2, external1]
            strategy: ordered
            onNoFit: reject
        """
    }

    static func function(_ name: String) -> JSONValue {
        [
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": [
                "name": .string(name), "namespace": .string(functions), "annotations": ["dispatch.direktiv.io/namespace": "team-b"],
            ],
            "spec": [
                "template": [
                    "spec": [
                        "containers": [["name": "direktiv-container", "image": "x", "resources": ["requests": ["cpu": "5m", "memory": "10Mi"]]]]
                    ]
                ]
            ],
        ]
    }

    /// The simulator (control plane on, the virtual node's grace as given) and one agent with
    /// the default upkeep interval and leader timings.
    static func withSetup(
        grace: Int, after: Int, moves: Int, tick: Duration = .milliseconds(50), _ body: (SimHarness, AgentHarness, KubeClient) async throws -> Void
    ) async throws {
        var options = KubeSim.Options()
        options.peerNodeGracePeriod = .seconds(grace)
        let sim = try await SimHarness.start(options: options, controlPlane: true, tick: tick)
        let agent = try await AgentHarness.start(sim: sim, rules: rules(after: after, moves: moves))
        let client = try sim.client()
        var failure: (any Error)?
        do { try await body(sim, agent, client) } catch { failure = error }
        try? await client.shutdown()
        await agent.stop()
        await sim.stop()
        if let failure { throw failure }
    }

    /// Waits until `condition` holds for the agent's view of workloads and placements.
    static func until(_ directory: FunctionDirectory, within: Duration, _ condition: @escaping @Sendable () -> Bool) async throws {
        if condition() { return }
        _ = try await next(directory.changes(), within: within) { _ in condition() }
    }

    static func readyOn(_ cluster: String, _ name: String, _ directory: FunctionDirectory) -> Bool {
        directory.record(namespace: functions, name: name).map { $0.cluster == cluster && $0.isReady } == true
    }

    static func loss(runs: Int, grace: Int, after: Int) async throws {
        try await withSetup(grace: grace, after: after, moves: 30) { sim, agent, client in
            let directory = agent.agent.functions
            _ = try await client.create(function("mover"), .knativeServices, namespace: functions)
            try await until(directory, within: .seconds(60)) { readyOn("external2", "mover", directory) }
            var rows: [(notReady: Double, recorded: Double, ready: Double, back: Double)] = []
            for run in 1...max(1, runs) {
                let lost = ContinuousClock.now
                try sim.sim.setPeer(cluster: "external2", reachable: false)
                _ = try await next(agent.agent.inventory.snapshots(), within: .seconds(grace + 60)) {
                    $0.cluster(named: "external2")?.isReady == false
                }
                let notReady = ContinuousClock.now - lost
                let key = FunctionKey(namespace: functions, name: "mover")
                try await until(directory, within: .seconds(grace + after + 60)) {
                    directory.placement(for: key)?.spec.cluster == "external1"
                }
                let recorded = ContinuousClock.now - lost
                try await until(directory, within: .seconds(60)) { readyOn("external1", "mover", directory) }
                let ready = ContinuousClock.now - lost

                let returned = ContinuousClock.now
                try sim.sim.setPeer(cluster: "external2", reachable: true)
                try await until(directory, within: .seconds(after + 60)) { readyOn("external2", "mover", directory) }
                let back = ContinuousClock.now - returned
                rows.append((notReady.inSeconds, recorded.inSeconds, ready.inSeconds, back.inSeconds))
                print(
                    String(
                        format:
                            "run %d: NotReady %.2f s, move recorded %.2f s, Ready on external1 %.2f s; back on external2 %.2f s after it returned",
                        run, notReady.inSeconds, recorded.inSeconds, ready.inSeconds, back.inSeconds))
            }
            func summary(_ values: [Double]) -> String {
                let sorted = values.sorted()
                return String(format: "%.2f s (min %.2f, max %.2f)", sorted[sorted.count / 2], sorted.first ?? 0, sorted.last ?? 0)
            }
            print("grace \(grace) s, afterSeconds \(after), upkeep every 5 s, \(rows.count) runs; medians:")
            print("| stage | median |")
            print("|---|---:|")
            print("| peer lost -> virtual node NotReady | \(summary(rows.map(\.notReady))) |")
            print("| peer lost -> move recorded by the leader | \(summary(rows.map(\.recorded))) |")
            print("| peer lost -> Ready on external1 | \(summary(rows.map(\.ready))) |")
            print("| peer back -> Ready on external2 again (failback) | \(summary(rows.map(\.back))) |")
        }
    }

    static func many(count: Int, moves: Int, grace: Int, after: Int) async throws {
        // The simulated control plane reads every pod each round (quadratic in a debug build):
        // one round a second keeps it from starving the agent, at up to a second per pod start.
        try await withSetup(grace: grace, after: after, moves: moves, tick: .seconds(1)) { sim, agent, client in
            let directory = agent.agent.functions
            // A Liqo virtual node's pod capacity is what the peer shares (ResourceSlice), often
            // far above a kubelet's 110; the seed's 110 would hold only half the functions.
            for node in ["liqo-external1", "liqo-external2"] {
                try sim.sim.store.modify(.nodes, namespace: nil, name: node, subresource: "status") { object in
                    object = object.setting(path: ["status", "capacity", "pods"], "1000").setting(path: ["status", "allocatable", "pods"], "1000")
                }
            }
            let names = (0..<max(1, count)).map { String(format: "f%04d", $0) }
            for name in names { _ = try await client.create(function(name), .knativeServices, namespace: functions) }
            try await until(directory, within: .seconds(300)) { names.allSatisfy { readyOn("external2", $0, directory) } }
            let lost = ContinuousClock.now
            try sim.sim.setPeer(cluster: "external2", reachable: false)
            var marks: [String] = []
            try await until(directory, within: .seconds(3600)) {
                names.allSatisfy { readyOn("external1", $0, directory) }
            }
            let total = ContinuousClock.now - lost
            // How many had moved at each minute comes from the placements' decision times.
            let placements = try await client.list(FunctionPlacement.self, .functionPlacements, namespace: functions).items
            let decided = placements.compactMap { $0.status?.decidedAt.flatMap(FunctionPlacement.parse) }.sorted()
            if let first = decided.first {
                var minute = 1
                var index = 0
                while index < decided.count {
                    let limit = first.addingTimeInterval(Double(minute) * 60 - 1)
                    while index < decided.count, decided[index] <= limit { index += 1 }
                    marks.append("\(index) by minute \(minute)")
                    minute += 1
                }
            }
            print(
                String(
                    format: "%d functions, maxMovesPerMinute %d, grace %d s, afterSeconds %d: all Ready on external1 %.1f s after the peer was lost",
                    names.count, moves, grace, after, total.inSeconds))
            print("moves recorded (from the first): \(marks.joined(separator: ", "))")
        }
    }
}
