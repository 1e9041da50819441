import DispatchAgent
import DispatchCertificates
import DispatchCore
import DispatchMetrics
import DispatchPrometheus
import DispatchProxy
import Foundation
import KubeClient
import KubeModels
import KubeSim
import Logging
import ServiceLifecycle

/// The agent running against a KubeSim, registered as its mutating webhook over TLS.
public final class AgentHarness: Sendable {
    public let agent: Agent
    public let webhookPort: Int
    public let adminPort: Int
    public let proxyPort: Int
    /// The agent's metrics, as `/metrics` renders them.
    public let prometheus: PrometheusBackend
    public let directory: URL
    public let webhookCA: CertificateAuthority
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    private let client: KubeClient

    /// Starts the agent with `rules` (YAML) and registers it in `sim` with `failurePolicy`.
    /// Function hosts resolve through `sim`'s function servers when it has them.
    public static func start(
        sim: SimHarness, rules: String, failurePolicy: String = "Fail", resolver: FunctionAddressResolver? = nil,
        configure: (inout AgentSettings) -> Void = { _ in }, now: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> AgentHarness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The webhook's certificate comes from its own CA: the API server verifies it with caBundle.
        let ca = try CertificateAuthority(commonName: "direktiv-dispatch-webhook-ca")
        let certificate = try ca.issue(commonName: "direktiv-dispatch.direktiv-dispatch.svc")
        try certificate.certificatePEM.write(to: directory.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        try certificate.privateKeyPEM.write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        try rules.write(to: directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)

        var settings = AgentSettings()
        settings.rulesPath = directory.appendingPathComponent("rules.yaml").path
        settings.tlsCertificatePath = directory.appendingPathComponent("tls.crt").path
        settings.tlsKeyPath = directory.appendingPathComponent("tls.key").path
        settings.bindAddress = "127.0.0.1"
        settings.webhookPort = 0
        settings.adminPort = 0
        settings.proxyPort = 0
        settings.fileCheckInterval = .milliseconds(50)
        settings.knativeCheckInterval = .milliseconds(200)
        configure(&settings)

        var logger = Logger(label: "agent-test")
        logger.logLevel = .warning
        let client = try sim.client()
        let prometheus = PrometheusBackend()
        let simResolver = sim.functions.map { functions in FunctionAddressResolver.table { functions.resolve($0) } }
        let (webhookPorts, webhookContinuation) = AsyncStream.makeStream(of: Int.self)
        let (adminPorts, adminContinuation) = AsyncStream.makeStream(of: Int.self)
        let (proxyPorts, proxyContinuation) = AsyncStream.makeStream(of: Int.self)
        var ports = Agent.Ports()
        ports.onWebhook = { webhookContinuation.yield($0) }
        ports.onAdmin = { adminContinuation.yield($0) }
        ports.onProxy = { proxyContinuation.yield($0) }
        let agent = try Agent(
            settings: settings, client: client, metrics: DispatchMetrics(factory: prometheus.factory),
            resolver: resolver ?? simResolver, exposition: prometheus.exposition, now: now, ports: ports, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [agent], logger: logger))
        let task = Task { try await group.run() }
        var webhookIterator = webhookPorts.makeAsyncIterator()
        var adminIterator = adminPorts.makeAsyncIterator()
        var proxyIterator = proxyPorts.makeAsyncIterator()
        guard let webhookPort = await webhookIterator.next(), let adminPort = await adminIterator.next(), let proxyPort = await proxyIterator.next()
        else {
            throw HarnessError("the agent did not start")
        }
        let harness = AgentHarness(
            agent: agent, webhookPort: webhookPort, adminPort: adminPort, proxyPort: proxyPort, prometheus: prometheus, directory: directory,
            webhookCA: ca, group: group, task: task, client: client)
        try harness.register(in: sim.sim, failurePolicy: failurePolicy)
        // Placements need the inventory: wait until it has listed the cluster.
        _ = try await next(agent.inventory.readinessChanges()) { $0.isReady }
        return harness
    }

    private init(
        agent: Agent, webhookPort: Int, adminPort: Int, proxyPort: Int, prometheus: PrometheusBackend, directory: URL,
        webhookCA: CertificateAuthority, group: ServiceGroup, task: Task<Void, any Error>, client: KubeClient
    ) {
        self.agent = agent
        self.webhookPort = webhookPort
        self.adminPort = adminPort
        self.proxyPort = proxyPort
        self.prometheus = prometheus
        self.directory = directory
        self.webhookCA = webhookCA
        self.group = group
        self.task = task
        self.client = client
    }

    /// The webhook registration the Helm chart makes, pointing at this agent.
    public func register(in sim: KubeSim, failurePolicy: String, namespaces: [String] = [Scenario.functionsNamespace]) throws {
        let configuration = webhookConfiguration(
            url: "https://127.0.0.1:\(webhookPort)/mutate", caPEM: webhookCA.certificatePEM, failurePolicy: failurePolicy, namespaces: namespaces)
        try WebhookRegistration.register(configuration, in: sim.store)
    }

    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        try? await client.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// The example rules of the repository, as the agent reads them.
public func exampleRulesYAML() throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try String(contentsOf: root.appendingPathComponent("examples/rules.yaml"), encoding: .utf8)
}

/// An example object of the repository (`examples/<path>`), as JSON.
public func exampleObject(_ path: String) throws -> JSONValue {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try JSONValue.parse(Data(contentsOf: root.appendingPathComponent("examples").appendingPathComponent(path)))
}

/// The `MutatingWebhookConfiguration` the Helm chart makes, for an agent listening at `url`.
public func webhookConfiguration(
    url: String, caPEM: String, failurePolicy: String = "Fail", namespaces: [String] = [Scenario.functionsNamespace]
) -> JSONValue {
    WebhookRegistration.configuration(url: url, caPEM: caPEM, failurePolicy: failurePolicy, namespaces: namespaces)
}
