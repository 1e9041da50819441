import DispatchAgent
import DispatchCertificates
import DispatchCore
import DispatchMetrics
import DispatchPrometheus
import DispatchProxy
import Foundation
import KubeClient
import KubeSim
import Logging
import ServiceLifecycle
import Synchronization

/// `direktiv-dispatch demo`: the whole system on one machine.
///
/// KubeSim serves the seed scenario (a main cluster and two Liqo peers) with its control plane
/// and function servers; two agent replicas run beside it, as the chart runs them, each with its
/// own client and caches, sharing only the API server (FunctionPlacements, the leader Lease);
/// the mutating webhook reaches them in turn, as the webhook Service balances them; then
/// ``DemoScript`` acts as Direktiv and as an operator would, step by step. Afterwards everything
/// keeps running for `duration`, or until a graceful shutdown (Ctrl-C).
public struct Demo: Service {
    let options: DemoOptions
    let output: @Sendable (String) -> Void
    let logger: Logger

    /// - Parameters:
    ///   - output: receives each line the demo prints.
    ///   - logger: for the simulator's and the agent's own logs (warnings and up are useful).
    public init(options: DemoOptions, output: @escaping @Sendable (String) -> Void, logger: Logger) {
        self.options = options
        self.output = output
        self.logger = logger
    }

    public func run() async throws {
        let files = try DemoFiles(directory: options.directory)
        let sim = try KubeSim(options: KubeSim.Options(), logger: logger)
        try Scenario.seed.apply(to: sim.store)
        let functionServers = FunctionServers(store: sim.store, clusters: FunctionServers.clusters(in: sim.store), logger: logger)
        let (apiPorts, apiPort) = AsyncStream.makeStream(of: Int.self)
        let server = try sim.server(host: options.host, port: options.apiPort) { apiPort.yield($0) }
        let simGroup = ServiceGroup(
            configuration: .init(services: [ControlPlane(store: sim.store, logger: logger), functionServers, server], logger: logger))

        try await withThrowingTaskGroup(of: Void.self) { group in
            let simFailure = LockedError()
            group.addTask {
                do { try await simGroup.run() } catch {
                    simFailure.set(error)
                    apiPort.finish()
                    throw error
                }
            }
            defer { group.cancelAll() }
            guard let boundAPIPort = await apiPorts.first(where: { _ in true }) else {
                throw DemoFailure(
                    step: "start",
                    reason:
                        "KubeSim could not serve on \(options.host):\(options.apiPort): \(simFailure.get().map { "\($0)" } ?? "unknown error") (choose another port with --api-port)"
                )
            }
            let apiURL = "https://\(options.host):\(boundAPIPort)"
            try sim.kubeconfig(server: apiURL).write(to: files.kubeconfig, atomically: true, encoding: .utf8)
            _ = await functionServers.running()

            let configuration = KubeConfiguration(
                server: apiURL,
                tls: .init(certificateAuthorityPEM: Array(sim.certificateAuthority.certificatePEM.utf8)),
                credentials: .token(sim.token),
                readTimeout: .seconds(30),
                connectTimeout: .seconds(2)
            )
            try await withKubeClient(configuration: configuration, logger: logger) { client in
                try await withKubeClient(configuration: configuration, logger: logger) { replicaClient in
                    let prometheus = PrometheusBackend()
                    let ports = BoundPorts()
                    var settings = files.settings(options)
                    settings.identity = "agent-a"
                    let agent = try Agent(
                        settings: settings,
                        client: client,
                        metrics: DispatchMetrics(factory: prometheus.factory),
                        resolver: .table { functionServers.resolve($0) },
                        exposition: prometheus.exposition,
                        ports: ports.callbacks,
                        logger: logger
                    )
                    // The second replica: ports of its own (any free ones), the same rules, TLS and token.
                    let replicaPorts = BoundPorts()
                    var replicaSettings = settings
                    replicaSettings.identity = "agent-b"
                    (replicaSettings.webhookPort, replicaSettings.proxyPort, replicaSettings.adminPort) = (0, 0, 0)
                    let replica = try Agent(
                        settings: replicaSettings, client: replicaClient, metrics: DispatchMetrics(factory: PrometheusBackend().factory),
                        resolver: .table { functionServers.resolve($0) }, ports: replicaPorts.callbacks, logger: logger)
                    let agentGroup = ServiceGroup(configuration: .init(services: [agent, replica], logger: logger))
                    group.addTask {
                        do { try await agentGroup.run() } catch {
                            ports.fail(error)
                            replicaPorts.fail(error)
                            throw error
                        }
                    }

                    var outcome: Result<Void, any Error> = .success(())
                    do {
                        let bound = try await ports.all()
                        let replicaBound = try await replicaPorts.all()
                        // Placements need the inventory: wait until both replicas have listed the cluster.
                        for await readiness in agent.inventory.readinessChanges() where readiness.isReady { break }
                        for await readiness in replica.inventory.readinessChanges() where readiness.isReady { break }
                        let webhooks = WebhookRoute(
                            sim: sim, caPEM: files.webhookCAPEM, namespaces: agent.state.rules.functionsNamespaces,
                            replicas: [("agent-a", bound.webhook), ("agent-b", replicaBound.webhook)])
                        try webhooks.next()
                        let endpoints = DemoEndpoints(
                            host: options.host, api: boundAPIPort, webhook: bound.webhook, proxy: bound.proxy, admin: bound.admin,
                            kubeconfig: files.kubeconfig.path, tokenFile: files.token.path)
                        let script = DemoScript(
                            options: options, endpoints: endpoints, sim: sim, functionServers: functionServers, agent: agent, replica: replica,
                            webhooks: webhooks, client: client, token: files.tokenValue, output: output)
                        try await cancelWhenGracefulShutdown { try await script.perform() }
                        if Task.isCancelled || Task.isShuttingDownGracefully { throw CancellationError() }
                        output(endpoints.tryThis(duration: options.duration))
                        if let duration = options.duration {
                            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
                        } else {
                            try? await gracefulShutdown()
                        }
                    } catch is CancellationError {
                        output("interrupted: stopping")
                    } catch {
                        outcome = .failure(error)
                    }
                    // The agent first, so its informers do not log the API server going away.
                    await agentGroup.triggerGracefulShutdown()
                    await simGroup.triggerGracefulShutdown()
                    try? await group.waitForAll()
                    try outcome.get()
                }
            }
        }
    }
}

/// Where the API server sends admission reviews: one replica after the other, as the webhook
/// Service's load balancing would (KubeSim calls the one URL its configuration names).
final class WebhookRoute: Sendable {
    let sim: KubeSim
    let caPEM: String
    let namespaces: [String]
    let replicas: [(name: String, port: Int)]
    private let turn = Mutex(0)

    init(sim: KubeSim, caPEM: String, namespaces: [String], replicas: [(name: String, port: Int)]) {
        self.sim = sim
        self.caPEM = caPEM
        self.namespaces = namespaces
        self.replicas = replicas
    }

    /// Points the webhook at the next replica and returns its name.
    @discardableResult
    func next() throws -> String {
        let index = turn.withLock { turn in
            defer { turn += 1 }
            return turn % replicas.count
        }
        let replica = replicas[index]
        try WebhookRegistration.register(
            WebhookRegistration.configuration(url: "https://127.0.0.1:\(replica.port)/mutate", caPEM: caPEM, namespaces: namespaces), in: sim.store)
        return replica.name
    }
}

/// The ports the agent's servers bound, reported as they start.
final class BoundPorts: Sendable {
    private let streams = (
        webhook: AsyncStream.makeStream(of: Int.self), proxy: AsyncStream.makeStream(of: Int.self), admin: AsyncStream.makeStream(of: Int.self)
    )
    private let failure = LockedError()

    /// The agent stopped before all its servers ran.
    func fail(_ error: any Error) {
        failure.set(error)
        streams.webhook.continuation.finish()
        streams.proxy.continuation.finish()
        streams.admin.continuation.finish()
    }

    var callbacks: Agent.Ports {
        var ports = Agent.Ports()
        let streams = streams
        ports.onWebhook = { streams.webhook.continuation.yield($0) }
        ports.onProxy = { streams.proxy.continuation.yield($0) }
        ports.onAdmin = { streams.admin.continuation.yield($0) }
        return ports
    }

    func all() async throws -> (webhook: Int, proxy: Int, admin: Int) {
        guard let webhook = await streams.webhook.stream.first(where: { _ in true }),
            let proxy = await streams.proxy.stream.first(where: { _ in true }),
            let admin = await streams.admin.stream.first(where: { _ in true })
        else {
            throw DemoFailure(
                step: "start",
                reason:
                    "the agent did not start: \(failure.get().map { "\($0)" } ?? "unknown error") (ports can be changed with --webhook-port, --proxy-port, --admin-port)"
            )
        }
        return (webhook, proxy, admin)
    }
}

/// The first error a part stopped with.
final class LockedError: Sendable {
    private let error = Mutex<(any Error)?>(nil)
    func set(_ value: any Error) { error.withLock { $0 = $0 ?? value } }
    func get() -> (any Error)? { error.withLock { $0 } }
}
