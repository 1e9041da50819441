import ArgumentParser
import Foundation
import KubeSim
import Logging
import ServiceLifecycle
import UnixSignals

/// `direktiv-dispatch sim`: runs the simulated cluster on its own.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run KubeSim, the simulated Kubernetes API server, until interrupted."
    )

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int = 6443

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Write a kubeconfig for kubectl and direktiv-dispatch here.")
    var kubeconfigOut: String?

    @Option(help: "Starting state: \(Scenario.allCases.map(\.rawValue).joined(separator: ", ")).")
    var scenario: Scenario = .seed

    @Option(help: "Bearer token clients must present (random when omitted).")
    var token: String?

    @Option(help: "Write the function hosts' loopback endpoints here, kept current, for `serve --resolver-file`.")
    var resolverOut: String?

    @Option(
        help:
            "Seconds a lost Liqo peer's virtual nodes keep reporting Ready after its pods stopped answering, before they turn NotReady with the unreachable taints (real clusters: about 40)."
    )
    var peerGrace: Double = 40

    @Option(
        help: ArgumentHelp(
            "The simulated WAN to a cluster, CLUSTER=MS (repeatable; defaults main=1, external1=15, external2=40): function answers are delayed by it and the peer's Liqo Connection reports it. Change it at run time: POST /kubesim/v1/peers/<cluster>/latency?ms=N."
        ))
    var peerLatency: [String] = []

    /// `--peer-latency` values, by cluster.
    func peerLatencies() throws -> [String: Int] {
        var result: [String: Int] = [:]
        for entry in peerLatency {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let milliseconds = Int(parts[1]), (0...60_000).contains(milliseconds) else {
                throw ValidationError("--peer-latency \(entry): expected CLUSTER=MS with MS between 0 and 60000")
            }
            result[parts[0]] = milliseconds
        }
        return result
    }

    func run() async throws {
        guard peerGrace >= 0, peerGrace <= 86_400 else { throw ValidationError("--peer-grace must be between 0 and 86400 seconds") }
        let latencies = try peerLatencies()
        var options = KubeSim.Options()
        options.token = token
        options.peerNodeGracePeriod = .milliseconds(Int64(peerGrace * 1000))
        let logger = Logger(label: "kubesim")
        let sim = try KubeSim(options: options, logger: logger)
        try scenario.apply(to: sim.store)
        let kubeconfigPath = kubeconfigOut
        let host = host
        let scenario = scenario
        let server = try sim.server(host: host, port: port) { boundPort in
            let url = "https://\(host.contains(":") ? "[\(host)]" : host):\(boundPort)"
            if let kubeconfigPath {
                do {
                    try sim.kubeconfig(server: url).write(toFile: kubeconfigPath, atomically: true, encoding: .utf8)
                } catch {
                    printError("cannot write the kubeconfig to \(kubeconfigPath): \(error)")
                }
            }
            printLine("KubeSim serving the \(scenario.rawValue) scenario at \(url)")
            if let kubeconfigPath { printLine("kubeconfig: \(kubeconfigPath)  (try: kubectl --kubeconfig \(kubeconfigPath) get nodes)") }
            printLine("Liqo peers: POST \(url)/kubesim/v1/peers/<cluster>/unreachable (or /reachable) with the kubeconfig's token")
            printLine("WAN latency: POST \(url)/kubesim/v1/peers/<cluster>/latency?ms=N")
        }
        let controlPlane = ControlPlane(store: sim.store, logger: logger)
        var functionOptions = FunctionServers.Options()
        for (cluster, milliseconds) in latencies {
            // A peer's Connection carries it (and the answers follow); a local cluster has none.
            if try sim.setPeerLatency(cluster: cluster, milliseconds: milliseconds).isEmpty {
                functionOptions.latency[cluster] = .milliseconds(milliseconds)
            }
        }
        let functions = FunctionServers(
            store: sim.store, clusters: FunctionServers.clusters(in: sim.store, options: functionOptions), options: functionOptions, logger: logger)
        var services: [any Service] = [controlPlane, functions, server]
        if let resolverOut { services.append(ResolverWriter(functions: functions, path: resolverOut)) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        Task {
            let endpoints = await functions.running()
            for cluster in functions.clusters {
                printLine("functions of \(cluster) answer at \(endpoints[cluster] ?? "?") (+\(functions.latency(of: cluster)))")
            }
            if let resolverOut { printLine("resolver file: \(resolverOut)  (serve --resolver-file \(resolverOut))") }
        }
        try await group.run()
    }
}

/// Keeps the resolver file in step with where the simulated functions run.
struct ResolverWriter: Service {
    let functions: FunctionServers
    let path: String

    func run() async throws {
        _ = await functions.running()
        await cancelWhenGracefulShutdown {
            var written: [String: String]?
            repeat {
                let table = functions.resolverTable()
                if table != written {
                    let hosts = table.keys.sorted().map { "    \"\($0)\": \"\(table[$0]!)\"" }.joined(separator: ",\n")
                    let contents = "{\n  \"hosts\": {\n\(hosts)\n  }\n}\n"
                    do {
                        try contents.write(toFile: path, atomically: true, encoding: .utf8)
                        written = table
                    } catch {
                        printError("cannot write the resolver file \(path): \(error)")
                    }
                }
            } while (try? await Task.sleep(for: .milliseconds(250))) != nil
        }
    }
}

extension Scenario: ExpressibleByArgument {}
