import DispatchCore
import DispatchDoctor
import DispatchMetrics
import DispatchProxy
import Foundation
import Hummingbird
import KubeClient
import Logging
import ServiceLifecycle
import Synchronization

/// The running agent: its shared state and every long-running part, wired together.
///
/// The agent is one `Service`: its `run()` runs every part in its own `ServiceGroup`, whose
/// graceful shutdown follows the caller's and is bounded by `settings.drain`. `serve` runs it
/// against a cluster, the demo and the tests against KubeSim.
public final class Agent: Sendable {
    public let settings: AgentSettings
    public let state: AgentState
    public let inventory: LiveInventory
    /// Where placements are decided, for the webhook and the admin API alike.
    public let placer: Placer
    public let controller: AdmissionController
    public let certificates: CertificateReloader
    /// The webhook's own CA and certificates, when the agent manages them.
    public let certificateManager: WebhookCertificateManager?
    /// The admin token's Secret, when the agent keeps it.
    public let adminTokenSecret: AdminTokenSecret?
    public let rulesReloader: RulesReloader
    /// Keeps each cluster's measured latency current, for `lowest-latency`.
    public let latencyReader: PeerLatencyReader
    /// Reads Direktiv's namespaces from its API, with `--direktiv-api`.
    public let namespaceDiscovery: DirektivNamespaceDiscovery?
    public let knativePreflight: KnativePreflight
    public let functions: FunctionDirectory
    public let statistics: InvocationStatistics
    public let proxy: InvocationProxy
    public let overrides: OverridesStore
    public let api: AdminAPI
    /// Elects the replica that keeps the FunctionPlacements.
    public let elector: LeaderElector
    public let placementEvents: PlacementEvents
    public let placementController: PlacementController
    let resolverFile: ResolverFile?
    let exposition: MetricsExposition?
    let client: KubeClient
    let logger: Logger
    let metrics: DispatchMetrics
    let ports: Ports

    /// Loads the rules and the TLS certificate files (unless the agent manages its certificate);
    /// either being unusable stops the agent here.
    ///
    /// - Parameters:
    ///   - resolver: where function hosts connect; default: `settings.resolverFile` if set, else cluster DNS.
    ///   - exposition: serves `/metrics` when given.
    ///   - now: the clock certificates are issued and rotated by.
    ///   - ports: told each server's bound port as it starts.
    public init(
        settings: AgentSettings, client: KubeClient, metrics: DispatchMetrics = DispatchMetrics(), resolver: FunctionAddressResolver? = nil,
        exposition: MetricsExposition? = nil, now: @escaping @Sendable () -> Date = { Date() }, ports: Ports = Ports(), logger: Logger
    ) throws {
        self.settings = settings
        self.ports = ports
        self.exposition = exposition
        self.client = client
        self.logger = logger
        self.metrics = metrics
        metrics.exportStartingValues()
        let (rules, rulesContents) = try RulesReloader.load(path: settings.rulesPath)
        state = AgentState(rules: rules)
        let inventory = LiveInventory(client: client, settings: .init(rules: rules), logger: logger, metrics: metrics)
        self.inventory = inventory
        let functions = FunctionDirectory(client: client, settings: .init(rules: rules), logger: logger)
        self.functions = functions
        elector = LeaderElector(
            client: client, namespace: settings.namespace, name: settings.leaderLease, identity: settings.identity, timings: settings.leaderTimings,
            metrics: metrics, logger: logger)
        placementEvents = PlacementEvents(client: client, identity: settings.identity, directory: functions, logger: logger)
        let state = state
        let store = PlacementStore(
            client: client, identity: settings.identity, namespaces: { state.rules.functionsNamespaces }, cache: { functions.placements },
            logger: logger)
        let placer = Placer(
            state: state, inventory: { inventory.snapshot }, store: store, events: placementEvents, cached: { functions.placements },
            metrics: metrics, logger: logger)
        self.placer = placer
        placementController = PlacementController(
            client: client, directory: functions, inventory: inventory, state: state, leadership: elector.leadership, identity: settings.identity,
            interval: settings.placementUpkeepInterval, events: placementEvents, metrics: metrics, logger: logger)
        controller = AdmissionController(
            placer: placer, state: state,
            egress: settings.engineProxyURL.flatMap { EgressProxyRewrite(agentProxyURL: $0, replacement: settings.functionEgressProxy) },
            metrics: metrics)
        if let managed = settings.managedWebhookCertificate {
            certificates = CertificateReloader(certificatePath: nil, keyPath: nil, metrics: metrics, logger: logger)
            certificateManager = WebhookCertificateManager(
                settings: managed, namespace: settings.namespace, client: client, certificates: certificates, metrics: metrics, now: now,
                logger: logger)
        } else {
            certificates = CertificateReloader(
                certificatePath: settings.tlsCertificatePath, keyPath: settings.tlsKeyPath, interval: settings.fileCheckInterval, metrics: metrics,
                logger: logger)
            try certificates.load()
            certificateManager = nil
        }
        let directoryFollowsState = DirectoryFollowsState(state: state, directory: functions)
        rulesReloader = RulesReloader(path: settings.rulesPath, state: state, interval: settings.fileCheckInterval, metrics: metrics, logger: logger)
        { rules in
            inventory.reconfigure(.init(rules: rules))
            directoryFollowsState.apply()
        }
        namespaceDiscovery = settings.direktivAPI.map {
            DirektivNamespaceDiscovery(settings: $0, state: state, metrics: metrics, logger: logger) { directoryFollowsState.apply() }
        }
        rulesReloader.loaded(rulesContents)
        knativePreflight = KnativePreflight(
            client: client, state: state, namespace: settings.knativeNamespace, interval: settings.knativeCheckInterval, metrics: metrics,
            logger: logger)
        resolverFile =
            resolver == nil ? settings.resolverFile.map { ResolverFile(path: $0, interval: settings.fileCheckInterval, logger: logger) } : nil
        let statistics = InvocationStatistics()
        self.statistics = statistics
        latencyReader = PeerLatencyReader(
            client: client, state: state, inventory: { inventory.snapshot },
            synced: { for await readiness in inventory.readinessChanges() where readiness.isReady { break } }, statistics: statistics,
            interval: settings.latencyInterval, metrics: metrics, logger: logger)
        var proxySettings = InvocationProxy.Settings()
        proxySettings.connectTimeout = settings.connectTimeout
        proxySettings.defaultDeadline = settings.defaultDeadline
        proxySettings.longestCall = settings.longestCall
        proxySettings.bodyIdleTimeout = settings.bodyIdleTimeout
        proxy = InvocationProxy(
            settings: proxySettings,
            functionsNamespaces: state.functionsNamespaces,
            directory: { functions.record(namespace: $0, name: $1) },
            resolver: resolver ?? resolverFile?.resolver ?? .dns,
            statistics: statistics,
            metrics: metrics,
            logger: logger
        )
        overrides = OverridesStore(client: client, namespace: settings.namespace, name: settings.overridesConfigMap, state: state, logger: logger)
        let functionsTarget = settings.functionsTargetNamespace
        let creator = FunctionCreator(
            client: client,
            placer: placer,
            state: state,
            targetNamespace: functionsTarget,
            sidecarImage: settings.sidecarImage,
            knownNamespaces: { Set(placer.knownNamespaces().names) },
            logger: logger
        )
        if let functionsTarget, !rules.functionsNamespaces.contains(functionsTarget) {
            logger.warning(
                "the functions target namespace is not a functions namespace of the rules: functions created through the admin API will not be placed by the webhook nor known to the proxy",
                metadata: ["namespace": "\(functionsTarget)"])
        }
        let adminToken = AdminToken(path: settings.adminTokenFile)
        adminTokenSecret = settings.adminTokenSecret.map {
            AdminTokenSecret(name: $0, namespace: settings.namespace, client: client, token: adminToken, logger: logger)
        }
        let certificates = certificates
        let doctor: @Sendable () async throws -> DoctorReport = {
            var rules = state.rules
            // {namespace} candidates stand for the namespaces Direktiv's API listed too.
            rules.direktivNamespaces = state.direktivNamespaces
            var doctorSettings = Doctor.Settings(rules: rules)
            doctorSettings.direktivNamespace = settings.direktivNamespace
            doctorSettings.engineDeployment = settings.engineDeployment
            doctorSettings.agentProxyURL = settings.engineProxyURL
            doctorSettings.webhookConfiguration = settings.managedWebhookCertificate?.webhookConfiguration ?? doctorSettings.webhookConfiguration
            doctorSettings.knativeNamespace = settings.knativeNamespace
            let facts = try await DoctorFacts.gather(client: client, settings: doctorSettings, servingCertificatePEM: certificates.certificatePEM)
            return Doctor.examine(facts, settings: doctorSettings)
        }
        api = AdminAPI(
            placer: placer, state: state, inventory: inventory, functions: functions, statistics: statistics, overrides: overrides,
            creator: creator, token: adminToken, protectReads: settings.protectReads, leadership: elector.leadership, doctor: doctor,
            logger: logger
        )
    }

    /// Bound ports, reported as each server starts.
    public struct Ports: Sendable {
        public var onWebhook: @Sendable (Int) async -> Void = { _ in }
        public var onAdmin: @Sendable (Int) async -> Void = { _ in }
        public var onMetrics: @Sendable (Int) async -> Void = { _ in }
        public var onProxy: @Sendable (Int) async -> Void = { _ in }
        public init() {}
    }

    /// What `/readyz` checks: that every part started and read the cluster once.
    ///
    /// Readiness never depends on the API server staying reachable afterwards. One probe governs
    /// the proxy's Service too, and after an API server restart every kubelet would otherwise mark
    /// every agent pod NotReady while the watches back off: every Direktiv call would fail although
    /// the proxy can still forward to what it knows. Staleness is reported in the body, in the
    /// metric `direktiv_dispatch_inventory_stale` and by the chart's alert instead.
    public var readiness: ReadinessChecks {
        let inventory = inventory
        let certificates = certificates
        let overrides = overrides
        return ReadinessChecks(
            [
                ("inventory", { inventory.readiness.isSynced ? nil : "not synced with the Kubernetes API yet" }),
                ("rules", { nil }),
                ("overrides", { overrides.isLoaded ? nil : "overrides ConfigMap \(overrides.namespace)/\(overrides.name) not read yet" }),
                ("tls", { certificates.isLoaded ? nil : "no TLS certificate loaded" }),
            ],
            notes: [
                ("inventory", { inventory.readiness.isStale ? "stale: the Kubernetes API cannot be reached; placing with the last snapshot" : nil })
            ]
        )
    }

    /// The services in start order; a graceful shutdown stops them in reverse, so the servers
    /// finish their requests before the inventory behind them stops. The proxy drains first
    /// (its calls may run for minutes) while the webhook keeps answering the API server and the
    /// admin port keeps answering the kubelet's liveness probe; the admin port stops last.
    func services() -> [any Service] {
        var services: [any Service] = [
            inventory,
            functions,
            overrides,
            InventoryMetrics(inventory: inventory, metrics: metrics),
            rulesReloader,
            certificates,
            knativePreflight,
            latencyReader,
            placementEvents,
            placementController,
        ]
        if let certificateManager { services.append(certificateManager) }
        if let adminTokenSecret { services.append(adminTokenSecret) }
        if let resolverFile { services.append(resolverFile) }
        if let namespaceDiscovery { services.append(namespaceDiscovery) }
        services += [
            AdminServer.application(
                router: AdminServer.router(readiness: readiness, metrics: exposition, api: api), host: settings.bindAddress, port: settings.adminPort,
                logger: logger, onRunning: ports.onAdmin),
            WebhookServer.application(
                controller: controller, certificates: certificates, host: settings.bindAddress, port: settings.webhookPort, logger: logger,
                onRunning: ports.onWebhook),
            ProxyServer(
                proxy: proxy, host: settings.bindAddress, port: settings.proxyPort, threads: settings.proxyThreads,
                cpuAffinity: settings.proxyCPUAffinity, logger: logger, onRunning: ports.onProxy),
        ]
        // Last to start, first to stop: a replica shutting down hands the Lease over at once.
        services.append(elector)
        if let metricsPort = settings.metricsPort, let exposition {
            services.append(
                AdminServer.application(
                    router: AdminServer.metricsRouter(metrics: exposition), host: settings.bindAddress, port: metricsPort, logger: logger,
                    onRunning: ports.onMetrics))
        }
        return services
    }
}

extension Agent: Service {
    /// Runs every part until a graceful shutdown of the calling task (or of its service group),
    /// then stops them in reverse start order; what is still running after `settings.drain` is
    /// cancelled.
    public func run() async throws {
        var configuration = ServiceGroupConfiguration(services: services().map { .init(service: $0) }, logger: logger)
        configuration.maximumGracefulShutdownDuration = settings.drain
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// Gives the function directory the namespaces of the agent's state (rules and Direktiv's API).
/// Calls are serialized and read the state inside, so the last one applies the latest of both.
private final class DirectoryFollowsState: Sendable {
    private let state: AgentState
    private let directory: FunctionDirectory
    private let serial = Mutex(())

    init(state: AgentState, directory: FunctionDirectory) {
        self.state = state
        self.directory = directory
    }

    func apply() {
        serial.withLock { _ in
            directory.reconfigure(.init(functionsNamespaces: state.rules.functionsNamespaces, direktivNamespaces: state.direktivNamespaces))
        }
    }
}
