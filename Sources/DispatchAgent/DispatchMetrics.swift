import DispatchCore
import Metrics

/// Every metric the agent records, defined in one place.
///
/// Recorded through swift-metrics; the composition root decides the backend (Prometheus in
/// `serve`). Names follow Prometheus conventions, and every label's values are bounded: clusters
/// and namespaces the agent knows, functions it has seen, or `unknown`.
public struct DispatchMetrics: Sendable {
    let factory: any MetricsFactory

    /// Metrics recorded into `factory`: the process-wide one by default, a private one in tests.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    public enum Name {
        public static let admissionRequests = "direktiv_dispatch_admission_requests_total"
        public static let placements = "direktiv_dispatch_placements_total"
        public static let placementDuration = "direktiv_dispatch_placement_duration_seconds"
        public static let inventoryStale = "direktiv_dispatch_inventory_stale"
        public static let clusterFreeCPU = "direktiv_dispatch_cluster_free_cpu_cores"
        public static let clusterFreeMemory = "direktiv_dispatch_cluster_free_memory_bytes"
        public static let clusterReady = "direktiv_dispatch_cluster_ready"
        public static let rulesReloadFailures = "direktiv_dispatch_rules_reload_failures_total"
        public static let knativeFeatureDisabled = "direktiv_dispatch_knative_feature_disabled"
    }

    /// 1 while the inventory may be out of date because the API server cannot be reached.
    public func inventoryStale(_ stale: Bool) {
        Gauge(label: Name.inventoryStale, factory: factory).record(stale ? 1 : 0)
    }

    /// One admission request; `outcome` is the placement outcome, `ignored` or `invalid`.
    public func admissionRequest(kind: String, operation: String, outcome: String) {
        let kind = ["Service", "Deployment"].contains(kind) ? kind : "other"
        let operation = ["CREATE", "UPDATE", "DELETE", "CONNECT"].contains(operation) ? operation : "unknown"
        Counter(label: Name.admissionRequests, dimensions: [("kind", kind), ("operation", operation), ("outcome", outcome)], factory: factory).increment()
    }

    /// One placement decision for a function, and how long deciding took.
    public func placement(_ decision: PlacementDecision, duration: Duration) {
        Counter(
            label: Name.placements,
            dimensions: [("direktiv_namespace", decision.direktivNamespace ?? "unknown"), ("cluster", decision.cluster ?? "none"), ("outcome", decision.outcome.rawValue)],
            factory: factory
        ).increment()
        Timer(label: Name.placementDuration, factory: factory).recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    public func rulesReloadFailed() {
        Counter(label: Name.rulesReloadFailures, factory: factory).increment()
    }

    /// 1 while a Knative feature flag the agent's patch needs is disabled.
    public func knativeFeature(_ flag: String, disabled: Bool) {
        Gauge(label: Name.knativeFeatureDisabled, dimensions: [("flag", flag)], factory: factory).record(disabled ? 1 : 0)
    }
}
