import DispatchCore
import DispatchMetrics
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle

/// Checks Knative's `config-features` at start and periodically: without
/// `kubernetes.podspec-affinity` (and `-tolerations`, when tolerations are added) Knative's own
/// webhook refuses every Service the agent patches. Each change is logged once, exposed as a
/// gauge, and turned into an admission warning by the ``AdmissionController``.
public final class KnativePreflight: Service, Sendable {
    /// Where Knative Serving runs unless told otherwise.
    public static let defaultNamespace = "knative-serving"
    public static let configMap = "config-features"

    /// Knative Serving's namespace, holding `config-features`.
    public let namespace: String
    private let client: KubeClient
    private let state: AgentState
    private let interval: Duration
    private let metrics: DispatchMetrics
    private let logger: Logger
    private let lastReport = LockedValue<String?>(nil)

    public init(
        client: KubeClient, state: AgentState, namespace: String = KnativePreflight.defaultNamespace, interval: Duration = .seconds(60),
        metrics: DispatchMetrics = DispatchMetrics(), logger: Logger
    ) {
        self.namespace = namespace
        self.client = client
        self.state = state
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval) { await self.check() }
    }

    /// Reads the ConfigMap once and records what it says.
    public func check() async {
        let addsTolerations = state.rules.liqo.addToleration
        do {
            let configMap = try await client.get(ConfigMap.self, .configMaps, name: Self.configMap, namespace: namespace)
            let features = KnativeFeatures(configMapData: configMap.data ?? [:], configMap: "\(namespace)/\(Self.configMap)")
            state.knativeFeatures = features
            let missing = features.missingFlags(addsTolerations: addsTolerations)
            for flag in [KnativeFeatures.affinityFlag, KnativeFeatures.tolerationsFlag] {
                metrics.knativeFeature(flag, disabled: missing.contains(flag))
            }
            report(missing.isEmpty ? "ok" : "missing \(missing)") {
                if missing.isEmpty {
                    logger.info("Knative allows affinity\(addsTolerations ? " and tolerations" : "") in Services")
                } else {
                    logger.warning(
                        "Knative's config-features disables what placed Services need: Knative will refuse them",
                        metadata: [
                            "enable": "\(missing.map { "\($0): enabled" }.joined(separator: ", "))", "configMap": "\(namespace)/\(Self.configMap)",
                        ])
                }
            }
        } catch let error as KubeAPIError where error.isNotFound {
            // No Knative (Direktiv 0.10 runs Deployments): nothing to check.
            state.knativeFeatures = nil
            report("absent") { logger.info("no Knative config-features ConfigMap; Knative checks are off") }
        } catch {
            report("error \(error)") { logger.warning("cannot read Knative's config-features", metadata: ["error": "\(error)"]) }
        }
    }

    /// Runs `log` only when the report differs from the previous one: once per change.
    private func report(_ summary: String, _ log: () -> Void) {
        if lastReport.exchange(summary) != summary { log() }
    }
}
