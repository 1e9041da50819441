import DispatchProxy
import Foundation
import Logging

/// Everything `serve` is configured with (flags or `DISPATCH_*` environment variables).
public struct AgentSettings: Sendable {
    public var kubeconfig: String?
    public var rulesPath = "/etc/direktiv-dispatch/rules/rules.yaml"
    public var tlsCertificatePath = "/etc/direktiv-dispatch/tls/tls.crt"
    public var tlsKeyPath = "/etc/direktiv-dispatch/tls/tls.key"
    /// When set, the agent keeps its webhook's CA in a Secret and serves certificates from
    /// memory instead of reading the two files above.
    public var managedWebhookCertificate: WebhookCertificateManager.Settings?
    public var bindAddress = "0.0.0.0"
    public var webhookPort = 8443
    public var proxyPort = 8080
    public var adminPort = 9090
    /// A port serving only `/metrics` (and `/healthz`); nil: metrics on the admin port alone.
    public var metricsPort: Int?
    /// Knative Serving's namespace, holding `config-features`.
    public var knativeNamespace = KnativePreflight.defaultNamespace
    /// The agent's own namespace (for its overrides ConfigMap).
    public var namespace = "direktiv-dispatch"
    public var overridesConfigMap = "direktiv-dispatch-overrides"
    public var adminTokenFile = "/etc/direktiv-dispatch/admin/token"
    /// A Secret in the agent's namespace holding the admin token, created when missing; used
    /// while `adminTokenFile` holds none.
    public var adminTokenSecret: String?
    public var protectReads = false
    public var functionsTargetNamespace: String?
    public var sidecarImage: String?
    /// The agent's proxy as Direktiv's engine is told it (`http_proxy`), which Direktiv copies
    /// into every function container: the webhook removes it there (``EgressProxyRewrite``).
    public var engineProxyURL: String?
    /// What function containers get instead of the agent's proxy; nil: no proxy at all.
    public var functionEgressProxy: String?
    /// Direktiv's namespace and its engine's Deployment, for `GET /v1/doctor`.
    public var direktivNamespace = "direktiv"
    public var engineDeployment = "direktiv-flow"
    /// Direktiv's API, whose namespace list the agent reads into the known Direktiv namespaces;
    /// nil: only the rules' `direktivNamespaces` (and the clusters and overrides) are known.
    public var direktivAPI: DirektivNamespaceDiscovery.Settings?
    /// Event loops serving proxied calls.
    public var proxyThreads = ProxyServer.defaultThreads
    /// Whether the proxy's event loops are pinned to CPUs.
    public var proxyCPUAffinity = ProxyCPUAffinity.auto
    public var connectTimeout: Duration = .seconds(1)
    public var defaultDeadline: Duration = .seconds(300)
    /// The longest a proxied call may run (Direktiv's own default action timeout is 600 s).
    public var longestCall: Duration = .seconds(600)
    /// Longest pause in a request or response body before the call is cut.
    public var bodyIdleTimeout: Duration = .seconds(60)
    /// How long a graceful shutdown may take before what is left is cancelled; at least
    /// `longestCall`, so that running calls finish (`serve` refuses less).
    public var drain: Duration = .seconds(610)
    public var logLevel: Logger.Level = .info
    /// A file mapping function hosts to addresses, for running beside `direktiv-dispatch sim`.
    public var resolverFile: String?
    /// How often files (rules, certificates) are checked for changes.
    public var fileCheckInterval: Duration = .seconds(2)
    public var knativeCheckInterval: Duration = .seconds(60)
    /// How often Liqo's measured latencies (and the agent's own) are read for `lowest-latency`.
    public var latencyInterval: Duration = .seconds(10)
    /// This replica's name in the leader Lease and in each FunctionPlacement's `decidedBy`: the
    /// pod's name in a cluster (the chart passes it), else the host name and a random suffix,
    /// as client-go's leader election does.
    public var identity = AgentSettings.defaultIdentity()
    /// The Lease in the agent's namespace that elects the leader.
    public var leaderLease = LeaderElector.defaultLeaseName
    public var leaderTimings = LeaderElectionMachine.Timings.clientGo
    /// How often the leader runs its pass over the FunctionPlacements.
    public var placementUpkeepInterval: Duration = .seconds(5)

    public init() {}

    public static func defaultIdentity() -> String {
        "\(ProcessInfo.processInfo.hostName)_\(UUID().uuidString.prefix(8).lowercased())"
    }
}
