import DispatchAgent
import DispatchCertificates
import DispatchCore
import Foundation
import KubeClient
import KubeModels
import KubeSim
import Logging
import ServiceLifecycle

/// Places `decisions` distinct functions of the seed scenario, one after the other, first with a
/// placer that shares nothing, then with one that reads the function's FunctionPlacement and the
/// reserving ones and writes the decision (four requests to the API server, as the agent does),
/// and prints both latency distributions side by side.
func sharedPlacementCost(decisions: Int) async throws {
    var logger = Logger(label: "shared-bench")
    logger.logLevel = .error
    let sim = try KubeSim(options: KubeSim.Options(), logger: logger)
    try Scenario.seed.apply(to: sim.store)
    let (ports, port) = AsyncStream.makeStream(of: Int.self)
    let server = try sim.server(host: "127.0.0.1", port: 0) { port.yield($0) }
    let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
    let running = Task { try await group.run() }
    var iterator = ports.makeAsyncIterator()
    guard let bound = await iterator.next() else { throw CancellationError() }
    let configuration = KubeConfiguration(
        server: "https://127.0.0.1:\(bound)", tls: .init(certificateAuthorityPEM: Array(sim.certificateAuthority.certificatePEM.utf8)),
        credentials: .token(sim.token), readTimeout: .seconds(30), connectTimeout: .seconds(2))
    try await withKubeClient(configuration: configuration, logger: logger) { client in
        let rules = try RulesParser.parse(
            """
            clusterLabel: direktiv.io/namespace
            functionsNamespaces: [direktiv-services-direktiv]
            namespaces:
              - match: "*"
                clusters: [external1, external2, main]
                onNoFit: admit-unplaced
            """)
        let nodes = try await client.list(Node.self, .nodes).items
        let snapshot = ClusterInventory(nodes: nodes, pods: [], clusterLabel: rules.clusterLabel, toleratedTaintKeys: [rules.liqo.taintKey])
        let state = AgentState(rules: rules)
        let store = PlacementStore(
            client: client, identity: "bench", namespaces: { rules.functionsNamespaces }, cache: { [:] }, logger: logger)
        let alone = Placer(state: state, inventory: { snapshot }, logger: logger)
        let shared = Placer(state: state, inventory: { snapshot }, store: store, logger: logger)
        func run(_ placer: Placer, prefix: String) async -> [Duration] {
            var durations: [Duration] = []
            for index in 0..<decisions {
                let key = FunctionKey(namespace: "direktiv-services-direktiv", name: "\(prefix)-\(index)")
                let workload = FunctionWorkload(
                    kind: .knativeService, identity: FunctionIdentity(key: key, direktivNamespace: "team-a", function: key.name, source: .annotation),
                    requestPerPod: Resources(milliCPU: 1, memoryBytes: 1 << 20), requestSource: .containers, replicas: 1)
                let object: JSONValue = ["metadata": ["name": .string(key.name)], "spec": ["template": ["spec": ["containers": []]]]]
                let started = ContinuousClock.now
                _ = await placer.place(workload, object: object, operation: "CREATE")
                durations.append(ContinuousClock.now - started)
            }
            return durations.sorted()
        }
        _ = await run(shared, prefix: "warm")
        let without = await run(alone, prefix: "alone")
        let with = await run(shared, prefix: "shared")
        func at(_ sorted: [Duration], _ quantile: Double) -> String {
            let value = sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))]
            return String(format: "%.3f ms", Double(value.components.attoseconds) / 1e15 + Double(value.components.seconds) * 1000)
        }
        print("| placer | decisions | p50 | p90 | p99 |")
        print("|---|---:|---:|---:|---:|")
        print("| shares nothing (0.1) | \(decisions) | \(at(without, 0.5)) | \(at(without, 0.9)) | \(at(without, 0.99)) |")
        print("| FunctionPlacements read and written | \(decisions) | \(at(with, 0.5)) | \(at(with, 0.9)) | \(at(with, 0.99)) |")
    }
    await group.triggerGracefulShutdown()
    _ = try? await running.value
}
