import ArgumentParser
import Configuration
import DispatchAgent
import DispatchMetrics
import DispatchPrometheus
import DispatchProxy
import Foundation
import KubeClient
import Logging
import Metrics
import ServiceLifecycle
import UnixSignals

/// `direktiv-dispatch serve`: the production entry point.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the agent: admission webhook, invocation proxy, admin API and metrics.",
        discussion: "Every option can also be set with the environment variable shown in brackets; flags win."
    )

    @Option(help: "Kubeconfig file (else KUBECONFIG, else the in-cluster service account). [DISPATCH_KUBECONFIG]")
    var kubeconfig: String?

    @Option(help: "Rules file, re-read when it changes and on SIGHUP. [DISPATCH_RULES]")
    var rules: String?

    @Option(help: "Webhook TLS certificate (PEM), re-read when it changes. [DISPATCH_TLS_CERT]")
    var tlsCert: String?

    @Option(help: "Webhook TLS private key (PEM). [DISPATCH_TLS_KEY]")
    var tlsKey: String?

    @Option(help: "Address to listen on. [DISPATCH_BIND_ADDRESS]")
    var bindAddress: String?

    @Option(help: "Admission webhook port (HTTPS, POST /mutate). [DISPATCH_WEBHOOK_PORT]")
    var webhookPort: Int?

    @Option(help: "Invocation proxy port. [DISPATCH_PROXY_PORT]")
    var proxyPort: Int?

    @Option(help: "Event loop threads serving the proxy (default: one per core). [DISPATCH_PROXY_THREADS]")
    var proxyThreads: Int?

    @Option(
        help:
            "auto: pin each proxy event loop to a CPU when the process may use exactly as many CPUs as it runs loops; off: never. [DISPATCH_PROXY_CPU_AFFINITY]"
    )
    var proxyCpuAffinity: String?

    @Option(help: "Admin port: /healthz, /readyz, /metrics, /v1. [DISPATCH_ADMIN_PORT]")
    var adminPort: Int?

    @Option(
        help:
            "Secret (in the agent's namespace) holding the admin token under key \"token\", created with a random token when missing; used while --admin-token-file holds none. [DISPATCH_ADMIN_TOKEN_SECRET]"
    )
    var adminTokenSecret: String?

    @Option(
        help:
            "Secret (in the agent's namespace) where the agent keeps its webhook's CA; with it the agent issues its own serving certificates and keeps --webhook-configuration's caBundle, and --tls-cert/--tls-key are not read. [DISPATCH_WEBHOOK_CA_SECRET]"
    )
    var webhookCaSecret: String?

    @Option(help: "MutatingWebhookConfiguration whose caBundle the agent keeps (with --webhook-ca-secret). [DISPATCH_WEBHOOK_CONFIGURATION]")
    var webhookConfiguration: String?

    @Option(
        help:
            "Service the API server calls the webhook through: its names go into the serving certificate (with --webhook-ca-secret). [DISPATCH_WEBHOOK_SERVICE]"
    )
    var webhookService: String?

    @Option(
        help: "A port serving only /metrics and /healthz, for scrapers (default: none; /metrics stays on the admin port). [DISPATCH_METRICS_PORT]")
    var metricsPort: Int?

    @Option(help: "Knative Serving's namespace, where config-features is read. [DISPATCH_KNATIVE_NAMESPACE]")
    var knativeNamespace: String?

    @Option(help: "The agent's own namespace. [DISPATCH_NAMESPACE]")
    var namespace: String?

    @Option(help: "ConfigMap storing per-namespace overrides, in the agent's namespace. [DISPATCH_OVERRIDES_CONFIGMAP]")
    var overridesConfigmap: String?

    @Option(help: "This replica's name in the leader Lease and in FunctionPlacements (default: host name and a random suffix). [DISPATCH_IDENTITY]")
    var identity: String?

    @Option(help: "The Lease, in the agent's namespace, that elects the leader (default: direktiv-dispatch-leader). [DISPATCH_LEADER_LEASE]")
    var leaderLease: String?

    @Option(help: "File holding the bearer token for mutating admin calls. [DISPATCH_ADMIN_TOKEN_FILE]")
    var adminTokenFile: String?

    @Flag(inversion: .prefixedNo, help: "Require the admin token for reads too. [DISPATCH_PROTECT_READS]")
    var protectReads: Bool?

    @Option(help: "Namespace where POST /v1/functions creates Knative Services. [DISPATCH_FUNCTIONS_TARGET_NAMESPACE]")
    var functionsTargetNamespace: String?

    @Option(help: "Direktiv sidecar image for POST /v1/functions. [DISPATCH_SIDECAR_IMAGE]")
    var sidecarImage: String?

    @Option(
        help:
            "The agent's proxy URL as Direktiv's engine has it (http_proxy); the webhook removes it from function containers, which Direktiv copies it into. [DISPATCH_ENGINE_PROXY_URL]"
    )
    var engineProxyUrl: String?

    @Option(help: "Proxy URL function containers get instead of the agent's. [DISPATCH_FUNCTION_EGRESS_PROXY]")
    var functionEgressProxy: String?

    @Option(help: "Direktiv's namespace, where GET /v1/doctor looks for the engine. [DISPATCH_DIREKTIV_NAMESPACE]")
    var direktivNamespace: String?

    @Option(help: "The engine's Deployment in Direktiv's namespace (default direktiv-flow). [DISPATCH_ENGINE_DEPLOYMENT]")
    var engineDeployment: String?

    @Option(
        help:
            "Base URL of Direktiv's API (e.g. http://direktiv-flow.direktiv:6665); the agent lists its namespaces (GET /api/v2/namespaces) and knows them as direktivNamespaces. [DISPATCH_DIREKTIV_API]"
    )
    var direktivApi: String?

    @Option(help: "File holding Direktiv's API key, sent as Direktiv-Api-Key (and Direktiv-Token for 0.8). [DISPATCH_DIREKTIV_API_KEY_FILE]")
    var direktivApiKeyFile: String?

    @Option(help: "Seconds between two reads of Direktiv's namespace list (default 30). [DISPATCH_DIREKTIV_API_INTERVAL]")
    var direktivApiInterval: Double?

    @Option(help: "Seconds to wait for a function's connection. [DISPATCH_CONNECT_TIMEOUT]")
    var connectTimeout: Double?

    @Option(help: "Seconds an invocation may take without a Direktiv-Deadline. [DISPATCH_DEFAULT_DEADLINE]")
    var defaultDeadline: Double?

    @Option(help: "Seconds a request or response body may pause before the call is cut. [DISPATCH_BODY_IDLE_TIMEOUT]")
    var bodyIdleTimeout: Double?

    @Option(help: "JSON file mapping function hosts to host:port instead of DNS, as `sim --resolver-out` writes it. [DISPATCH_RESOLVER_FILE]")
    var resolverFile: String?

    @Option(help: "Seconds any proxied call may run, whatever its Direktiv-Deadline asks (default 600). [DISPATCH_LONGEST_CALL_SECONDS]")
    var longestCallSeconds: Double?

    @Option(help: "Seconds a graceful shutdown may take, at least the longest call (default: longest call + 10). [DISPATCH_DRAIN_SECONDS]")
    var drainSeconds: Int?

    @Option(help: "trace, debug, info, notice, warning, error or critical. [DISPATCH_LOG_LEVEL]")
    var logLevel: String?

    func run() async throws {
        let settings = try resolveSettings()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        let logger = Logger(label: "direktiv-dispatch")
        do {
            let configuration = try KubeConfiguration.resolve(kubeconfig: settings.kubeconfig)
            try await withKubeClient(configuration: configuration, logger: logger) { client in
                let prometheus = PrometheusBackend()
                MetricsSystem.bootstrap(prometheus.factory)
                var ports = Agent.Ports()
                ports.onWebhook = { logger.notice("webhook listening", metadata: ["port": "\($0)"]) }
                ports.onProxy = { logger.notice("proxy listening", metadata: ["port": "\($0)"]) }
                ports.onAdmin = { logger.notice("admin listening", metadata: ["port": "\($0)"]) }
                ports.onMetrics = { logger.notice("metrics listening", metadata: ["port": "\($0)"]) }
                let agent = try Agent(settings: settings, client: client, exposition: prometheus.exposition, ports: ports, logger: logger)
                let group = ServiceGroup(
                    configuration: .init(
                        services: [.init(service: agent)], gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
                )
                logger.notice("direktiv-dispatch starting", metadata: ["api": "\(configuration.server)", "rules": "\(settings.rulesPath)"])
                try await group.run()
            }
        } catch {
            printError("direktiv-dispatch: \(error)")
            throw ExitCode(1)
        }
    }

    /// Flags first, then `DISPATCH_*` environment variables, then the defaults.
    func resolveSettings() throws -> AgentSettings {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        func put(_ key: String, _ value: ConfigContent?) {
            if let value { values[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = ConfigValue(value, isSecret: false) }
        }
        put("dispatch.kubeconfig", kubeconfig.map { .string($0) })
        put("dispatch.rules", rules.map { .string($0) })
        put("dispatch.tls.cert", tlsCert.map { .string($0) })
        put("dispatch.tls.key", tlsKey.map { .string($0) })
        put("dispatch.bind.address", bindAddress.map { .string($0) })
        put("dispatch.webhook.port", webhookPort.map { .int($0) })
        put("dispatch.proxy.port", proxyPort.map { .int($0) })
        put("dispatch.proxy.threads", proxyThreads.map { .int($0) })
        put("dispatch.proxy.cpu.affinity", proxyCpuAffinity.map { .string($0) })
        put("dispatch.admin.port", adminPort.map { .int($0) })
        put("dispatch.admin.token.secret", adminTokenSecret.map { .string($0) })
        put("dispatch.webhook.ca.secret", webhookCaSecret.map { .string($0) })
        put("dispatch.webhook.configuration", webhookConfiguration.map { .string($0) })
        put("dispatch.webhook.service", webhookService.map { .string($0) })
        put("dispatch.metrics.port", metricsPort.map { .int($0) })
        put("dispatch.knative.namespace", knativeNamespace.map { .string($0) })
        put("dispatch.namespace", namespace.map { .string($0) })
        put("dispatch.overrides.configmap", overridesConfigmap.map { .string($0) })
        put("dispatch.identity", identity.map { .string($0) })
        put("dispatch.leader.lease", leaderLease.map { .string($0) })
        put("dispatch.admin.token.file", adminTokenFile.map { .string($0) })
        put("dispatch.protect.reads", protectReads.map { .bool($0) })
        put("dispatch.functions.target.namespace", functionsTargetNamespace.map { .string($0) })
        put("dispatch.sidecar.image", sidecarImage.map { .string($0) })
        put("dispatch.engine.proxy.url", engineProxyUrl.map { .string($0) })
        put("dispatch.function.egress.proxy", functionEgressProxy.map { .string($0) })
        put("dispatch.direktiv.namespace", direktivNamespace.map { .string($0) })
        put("dispatch.engine.deployment", engineDeployment.map { .string($0) })
        put("dispatch.direktiv.api", direktivApi.map { .string($0) })
        put("dispatch.direktiv.api.key.file", direktivApiKeyFile.map { .string($0) })
        put("dispatch.direktiv.api.interval", direktivApiInterval.map { .double($0) })
        put("dispatch.connect.timeout", connectTimeout.map { .double($0) })
        put("dispatch.default.deadline", defaultDeadline.map { .double($0) })
        put("dispatch.body.idle.timeout", bodyIdleTimeout.map { .double($0) })
        put("dispatch.resolver.file", resolverFile.map { .string($0) })
        put("dispatch.longest.call.seconds", longestCallSeconds.map { .double($0) })
        put("dispatch.drain.seconds", drainSeconds.map { .int($0) })
        put("dispatch.log.level", logLevel.map { .string($0) })
        let config = ConfigReader(providers: [InMemoryProvider(name: "flags", values: values), EnvironmentVariablesProvider()])

        do {
            return try AgentSettings(reader: config, podNamespace: Self.podNamespace())
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// The pod's namespace from its service account, when running in a cluster.
    static func podNamespace() -> String? {
        FileManager.default.contents(atPath: KubeConfiguration.serviceAccountDirectory + "/namespace")
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }
}

/// A clear error that stops a command with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
