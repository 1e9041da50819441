import DispatchAgent
// Informer benchmark (release build): `benchmarks/informer.sh` runs it.
//
// sim PORT KUBECONFIG   serve a KubeSim with 1,000 clusters: 10,000 nodes and 100,000 pods
//                       (this process holds the API server's memory, not the agent's)
// catchup KUBECONFIG    run the agent's live inventory against it until the first full
//                       snapshot; print the time and this process's peak RSS
// throughput N          in one process: a KubeSim and a pod informer; N pod status changes as
//                       fast as the store takes them; time until the informer has seen all
import DispatchCertificates
import DispatchCore
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeClient
import KubeModels
import KubeSim
import Logging
import ServiceLifecycle
import UnixSignals

func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return -1 }
    return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .error
    return logger
}

func populate(_ store: ObjectStore, clusters: Int) throws {
    for cluster in 0..<clusters {
        for node in 0..<10 {
            let name = "node-\(cluster)-\(node)"
            _ = try store.create(
                Scenario.node(
                    name, cluster: "cluster-\(cluster)", cpu: "\(8 + cluster % 5)", memory: "32Gi",
                    remoteID: cluster % 2 == 1 ? "remote-\(cluster)" : nil), .nodes, namespace: nil)
            for pod in 0..<10 {
                let function = "fn-\(cluster)-\(node)-\(pod)"
                let object: JSONValue = [
                    "metadata": [
                        "name": .string("\(function)-deployment-7d9c5-x2k8p"),
                        "labels": ["serving.knative.dev/service": .string(function), "direktiv-app": "direktiv"],
                    ],
                    "spec": [
                        "nodeName": .string(name),
                        "containers": [
                            [
                                "name": "direktiv-container", "image": "direktiv/greeting:v3",
                                "resources": ["requests": ["cpu": "100m", "memory": "64M"], "limits": ["cpu": "500m", "memory": "1024M"]],
                            ],
                            [
                                "name": "direktiv-sidecar", "image": "direktiv/sidecar:v0.8.10",
                                "resources": ["requests": ["cpu": "10m", "memory": "32Mi"]],
                            ],
                        ],
                    ],
                    "status": ["phase": "Running"],
                ]
                _ = try store.create(object, .pods, namespace: Scenario.functionsNamespace)
            }
        }
    }
}

func runSim(port: Int, kubeconfig: String) async throws {
    let sim = try KubeSim(logger: quietLogger("kubesim"))
    try Scenario.empty.apply(to: sim.store)
    try populate(sim.store, clusters: 1000)
    let server = try sim.server(port: port) { bound in
        try? sim.kubeconfig(server: "https://127.0.0.1:\(bound)").write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        print("ready")
        fflush(nil)
    }
    try await ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: quietLogger("bench"))).run()
}

func runCatchup(kubeconfig: String) async throws {
    let before = peakRSSMiB()
    let client = try KubeClient(configuration: try KubeConfiguration.fromKubeconfig(path: kubeconfig))
    let inventory = LiveInventory(
        client: client,
        settings: .init(clusterLabel: "direktiv.io/namespace", toleratedTaintKeys: ["virtual-node.liqo.io/not-allowed"]),
        logger: quietLogger("inventory")
    )
    let snapshots = inventory.snapshots()
    let clock = ContinuousClock()
    let start = clock.now
    let task = Task { try await inventory.run() }
    for await snapshot in snapshots
    where inventory.readiness.isSynced && snapshot.clusters.count == 1000 && snapshot.clusters.reduce(0, { $0 + $1.podCount }) == 100_000 {
        break
    }
    let elapsed = clock.now - start
    task.cancel()
    _ = try? await task.value
    try await client.shutdown()
    print(
        String(
            format: "| catch-up: list + watch 10,000 Nodes and 100,000 Pods, first full snapshot | %.2f s | peak RSS %.0f MiB (%.0f MiB at start) |",
            seconds(elapsed), peakRSSMiB(), before))
}

func runThroughput(events: Int) async throws {
    let sim = try KubeSim(logger: quietLogger("kubesim"))
    try Scenario.seed.apply(to: sim.store)
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let server = try sim.server(port: 0) { portContinuation.yield($0) }
    let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger("bench")))
    let serverTask = Task { try await group.run() }
    var portIterator = ports.makeAsyncIterator()
    let port = await portIterator.next()!
    let client = try KubeClient(
        configuration: KubeConfiguration(
            server: "https://127.0.0.1:\(port)", tls: .init(certificateAuthorityPEM: Array(sim.certificateAuthority.certificatePEM.utf8)),
            credentials: .token(sim.token)))
    let informer = Informer<Pod, PodUsage>(client: client, resource: .pods, logger: quietLogger("informer"), transform: PodUsage.init)
    let changes = informer.subscribe()
    let informerTask = Task { try await informer.run() }
    var iterator = changes.makeAsyncIterator()
    while let event = await iterator.next() {
        if case .synced = event { break }
    }
    let clock = ContinuousClock()
    let start = clock.now
    let writer = Task {
        for index in 0..<events {
            try sim.store.modify(.pods, namespace: "direktiv", name: "direktiv-flow-6d9c7b5f4-x2k8p") { pod in
                pod = .object(
                    (pod.objectValue ?? [:]).merging([
                        "metadata": .object((pod["metadata"]?.objectValue ?? [:]).merging(["annotations": ["tick": .string(String(index))]]) { $1 })
                    ]) { $1 })
            }
        }
    }
    var seen = 0
    while let event = await iterator.next() {
        if case .modified = event {
            seen += 1
            if seen == events { break }
        }
    }
    let elapsed = clock.now - start
    try await writer.value
    informerTask.cancel()
    try await client.shutdown()
    await group.triggerGracefulShutdown()
    serverTask.cancel()
    print(
        String(
            format: "| watch throughput: %d pod MODIFIED events, store to informer over TLS | %.2f s | %.0f events/s |", events, seconds(elapsed),
            Double(events) / seconds(elapsed)))
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "sim" where arguments.count == 3: try await runSim(port: Int(arguments[1])!, kubeconfig: arguments[2])
case "catchup" where arguments.count == 2: try await runCatchup(kubeconfig: arguments[1])
case "throughput" where arguments.count == 2: try await runThroughput(events: Int(arguments[1])!)
default:
    FileHandle.standardError.write(Data("usage: informer-bench sim PORT KUBECONFIG | catchup KUBECONFIG | throughput N\n".utf8))
    exit(2)
}
