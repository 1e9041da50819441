import Configuration
import DispatchCore
import DispatchProxy
import KubeModels
import Logging

extension AgentSettings {
    /// A setting that cannot be used, with the flag or variable to change.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads every setting once from `config` (keys `dispatch.*`: `serve` puts its flags first,
    /// then the `DISPATCH_*` environment variables); what it lacks keeps the default above.
    ///
    /// - Parameter podNamespace: the namespace of the agent's pod, used when none is configured.
    public init(reader config: ConfigReader, podNamespace: String? = nil) throws(Invalid) {
        var settings = AgentSettings()
        settings.kubeconfig = config.string(forKey: "dispatch.kubeconfig")
        settings.rulesPath = config.string(forKey: "dispatch.rules", default: settings.rulesPath)
        settings.tlsCertificatePath = config.string(forKey: "dispatch.tls.cert", default: settings.tlsCertificatePath)
        settings.tlsKeyPath = config.string(forKey: "dispatch.tls.key", default: settings.tlsKeyPath)
        settings.bindAddress = config.string(forKey: "dispatch.bind.address", default: settings.bindAddress)
        settings.webhookPort = try Self.port(config, "dispatch.webhook.port", settings.webhookPort)
        settings.proxyPort = try Self.port(config, "dispatch.proxy.port", settings.proxyPort)
        settings.proxyThreads = config.int(forKey: "dispatch.proxy.threads", default: settings.proxyThreads)
        guard (1...1024).contains(settings.proxyThreads) else { throw Invalid("--proxy-threads must be between 1 and 1024") }
        let affinity = config.string(forKey: "dispatch.proxy.cpu.affinity", default: settings.proxyCPUAffinity.rawValue)
        guard let parsedAffinity = ProxyCPUAffinity(rawValue: affinity) else {
            throw Invalid(
                "--proxy-cpu-affinity must be \(ProxyCPUAffinity.allCases.map(\.rawValue).joined(separator: " or ")), not \(affinity)")
        }
        settings.proxyCPUAffinity = parsedAffinity
        settings.adminPort = try Self.port(config, "dispatch.admin.port", settings.adminPort)
        if let metricsPort = config.int(forKey: "dispatch.metrics.port") {
            guard (0...65535).contains(metricsPort) else { throw Invalid("dispatch.metrics.port: \(metricsPort) is not a port") }
            guard metricsPort != settings.adminPort || metricsPort == 0 else {
                throw Invalid("--metrics-port must differ from --admin-port (\(metricsPort))")
            }
            settings.metricsPort = metricsPort
        }
        settings.knativeNamespace = config.string(forKey: "dispatch.knative.namespace").flatMap { $0.isEmpty ? nil : $0 } ?? settings.knativeNamespace
        settings.namespace = config.string(forKey: "dispatch.namespace") ?? podNamespace ?? settings.namespace
        let managedKeys: [ConfigKey] = ["dispatch.webhook.ca.secret", "dispatch.webhook.configuration", "dispatch.webhook.service"]
        let managed = managedKeys.map { config.string(forKey: $0).flatMap { $0.isEmpty ? nil : $0 } }
        if managed.contains(where: { $0 != nil }) {
            guard let secret = managed[0], let configuration = managed[1], let service = managed[2] else {
                throw Invalid(
                    "--webhook-ca-secret, --webhook-configuration and --webhook-service go together: the agent keeps its CA in the Secret, its caBundle in the configuration, and certifies the Service's names"
                )
            }
            guard config.string(forKey: "dispatch.tls.cert") == nil, config.string(forKey: "dispatch.tls.key") == nil else {
                throw Invalid(
                    "--webhook-ca-secret and --tls-cert/--tls-key exclude each other: the agent either issues its certificate or reads one")
            }
            let namespace = settings.namespace
            settings.managedWebhookCertificate = .init(
                caSecret: secret, webhookConfiguration: configuration,
                dnsNames: [service, "\(service).\(namespace)", "\(service).\(namespace).svc", "\(service).\(namespace).svc.cluster.local"])
        }
        settings.adminTokenSecret = config.string(forKey: "dispatch.admin.token.secret").flatMap { $0.isEmpty ? nil : $0 }
        settings.overridesConfigMap = config.string(forKey: "dispatch.overrides.configmap", default: settings.overridesConfigMap)
        if let identity = config.string(forKey: "dispatch.identity"), !identity.isEmpty {
            guard identity.utf8.count <= 128 else { throw Invalid("--identity must be at most 128 bytes") }
            settings.identity = identity
        }
        settings.leaderLease = config.string(forKey: "dispatch.leader.lease").flatMap { $0.isEmpty ? nil : $0 } ?? settings.leaderLease
        guard KubernetesNames.isDNS1123Subdomain(settings.leaderLease) else {
            throw Invalid("--leader-lease: \"\(settings.leaderLease)\" is not a valid object name")
        }
        settings.adminTokenFile = config.string(forKey: "dispatch.admin.token.file", default: settings.adminTokenFile)
        settings.protectReads = config.bool(forKey: "dispatch.protect.reads", default: settings.protectReads)
        settings.functionsTargetNamespace = config.string(forKey: "dispatch.functions.target.namespace").flatMap { $0.isEmpty ? nil : $0 }
        settings.sidecarImage = config.string(forKey: "dispatch.sidecar.image").flatMap { $0.isEmpty ? nil : $0 }
        settings.engineProxyURL = config.string(forKey: "dispatch.engine.proxy.url").flatMap { $0.isEmpty ? nil : $0 }
        settings.functionEgressProxy = config.string(forKey: "dispatch.function.egress.proxy").flatMap { $0.isEmpty ? nil : $0 }
        if let url = settings.engineProxyURL, ProxyURL(url) == nil {
            throw Invalid("--engine-proxy-url: \"\(url)\" is not an http:// or https:// URL")
        }
        if let url = settings.functionEgressProxy {
            guard ProxyURL(url) != nil else { throw Invalid("--function-egress-proxy: \"\(url)\" is not an http:// or https:// URL") }
            guard settings.engineProxyURL != nil else {
                throw Invalid("--function-egress-proxy replaces the agent's proxy in function containers: it needs --engine-proxy-url")
            }
        }
        settings.direktivNamespace =
            config.string(forKey: "dispatch.direktiv.namespace").flatMap { $0.isEmpty ? nil : $0 } ?? settings.direktivNamespace
        settings.engineDeployment =
            config.string(forKey: "dispatch.engine.deployment").flatMap { $0.isEmpty ? nil : $0 } ?? settings.engineDeployment
        guard KubernetesNames.isDNS1123Label(settings.direktivNamespace) else {
            throw Invalid("--direktiv-namespace: \"\(settings.direktivNamespace)\" is not a namespace name")
        }
        guard KubernetesNames.isDNS1123Subdomain(settings.engineDeployment) else {
            throw Invalid("--engine-deployment: \"\(settings.engineDeployment)\" is not an object name")
        }
        if let url = config.string(forKey: "dispatch.direktiv.api").flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let base = DirektivNamespaceDiscovery.Settings.baseURL(url) else {
                throw Invalid("--direktiv-api: \"\(url)\" is not an http:// or https:// URL without query or fragment")
            }
            var api = DirektivNamespaceDiscovery.Settings(baseURL: base)
            api.keyFile = config.string(forKey: "dispatch.direktiv.api.key.file").flatMap { $0.isEmpty ? nil : $0 }
            api.interval = try Self.seconds(config, "dispatch.direktiv.api.interval", api.interval)
            guard api.interval >= .seconds(1) else { throw Invalid("--direktiv-api-interval must be at least 1 second") }
            settings.direktivAPI = api
        } else if config.string(forKey: "dispatch.direktiv.api.key.file").map({ !$0.isEmpty }) == true {
            throw Invalid("--direktiv-api-key-file is the key for --direktiv-api, which is not set")
        }
        settings.connectTimeout = try Self.seconds(config, "dispatch.connect.timeout", settings.connectTimeout)
        settings.defaultDeadline = try Self.seconds(config, "dispatch.default.deadline", settings.defaultDeadline)
        settings.bodyIdleTimeout = try Self.seconds(config, "dispatch.body.idle.timeout", settings.bodyIdleTimeout)
        settings.resolverFile = config.string(forKey: "dispatch.resolver.file").flatMap { $0.isEmpty ? nil : $0 }
        settings.longestCall = try Self.seconds(config, "dispatch.longest.call.seconds", settings.longestCall)
        guard settings.defaultDeadline <= settings.longestCall else {
            throw Invalid("--default-deadline (\(settings.defaultDeadline)) must not exceed --longest-call-seconds (\(settings.longestCall))")
        }
        // A drain shorter than the longest call cuts running calls on every rollout, and
        // Direktiv runs them again: refused, not just warned about.
        let longestCallSeconds = Int(settings.longestCall.components.seconds)
        let drain = config.int(forKey: "dispatch.drain.seconds", default: longestCallSeconds + 10)
        guard drain >= longestCallSeconds, drain <= 31_536_000 else {
            throw Invalid(
                "--drain-seconds (\(drain)) must be at least the longest call (\(longestCallSeconds) s, --longest-call-seconds) and at most a year: a shorter drain cuts running calls on every rollout"
            )
        }
        settings.drain = .seconds(drain)
        let level = config.string(forKey: "dispatch.log.level", default: settings.logLevel.rawValue)
        guard let parsed = Logger.Level(rawValue: level) else { throw Invalid("unknown log level \(level)") }
        settings.logLevel = parsed
        self = settings
    }

    private static func port(_ config: ConfigReader, _ key: String, _ fallback: Int) throws(Invalid) -> Int {
        let value = config.int(forKey: ConfigKey(key.split(separator: ".").map(String.init)), default: fallback)
        guard (0...65535).contains(value) else { throw Invalid("\(key): \(value) is not a port") }
        return value
    }

    private static func seconds(_ config: ConfigReader, _ key: String, _ fallback: Duration) throws(Invalid) -> Duration {
        let value = config.double(
            forKey: ConfigKey(key.split(separator: ".").map(String.init)),
            default: fallback.inSeconds)
        // A year at most: a larger (or infinite) value would overflow the timers.
        guard value > 0, value <= 31_536_000 else { throw Invalid("\(key) must be positive and at most 31536000 seconds (a year)") }
        return .milliseconds(Int64(value * 1000))
    }
}
