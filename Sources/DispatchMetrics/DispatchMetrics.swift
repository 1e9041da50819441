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
        public static let invocations = "direktiv_dispatch_invocations_total"
        public static let invocationDuration = "direktiv_dispatch_invocation_duration_seconds"
        public static let invocationsInFlight = "direktiv_dispatch_invocations_in_flight"
        public static let upstreamErrors = "direktiv_dispatch_upstream_errors_total"
        public static let coldStarts = "direktiv_dispatch_cold_starts_total"
        public static let firstInvocationDuration = "direktiv_dispatch_first_invocation_duration_seconds"
        public static let proxyRefusals = "direktiv_dispatch_proxy_refusals_total"
        public static let webhookCertificateExpiry = "direktiv_dispatch_webhook_certificate_expiry_timestamp_seconds"
        public static let leader = "direktiv_dispatch_leader"
        public static let placementWriteFailures = "direktiv_dispatch_placement_write_failures_total"
        public static let failovers = "direktiv_dispatch_failovers_total"
        public static let strandedFunctions = "direktiv_dispatch_stranded_functions"
        public static let failoverMovesWaiting = "direktiv_dispatch_failover_moves_waiting"
        public static let direktivAPIFailures = "direktiv_dispatch_direktiv_api_failures_total"
        public static let clusterLatency = "direktiv_dispatch_cluster_latency_seconds"
        public static let direktivNamespacesDiscovered = "direktiv_dispatch_direktiv_namespaces_discovered"
    }

    /// One line per metric for the exposition's `# HELP` (swift-metrics carries no help text).
    public static let help: [String: String] = [
        Name.admissionRequests: "Admission requests answered, by kind, operation and outcome.",
        Name.placements: "Placement decisions, by Direktiv namespace, cluster and outcome.",
        Name.placementDuration: "Time taken to decide a placement.",
        Name.inventoryStale: "1 while the cluster inventory may be out of date because the Kubernetes API cannot be reached.",
        Name.clusterFreeCPU: "Free CPU on a cluster's schedulable nodes (allocatable minus requests of their pods), in cores.",
        Name.clusterFreeMemory: "Free memory on a cluster's schedulable nodes (allocatable minus requests of their pods), in bytes.",
        Name.clusterReady: "1 when a cluster can take functions, 0 when it is not ready.",
        Name.rulesReloadFailures: "Rules files refused because they did not validate.",
        Name.knativeFeatureDisabled: "1 while a Knative config-features flag the placement patch needs is disabled.",
        Name.invocations: "Function invocations through the proxy, by Direktiv namespace, function, cluster and status code.",
        Name.invocationDuration: "Duration of function invocations through the proxy, from request head to response end.",
        Name.invocationsInFlight: "Function invocations in progress through the proxy, by cluster.",
        Name.upstreamErrors: "Invocations that failed between the proxy and the function, by cluster and reason.",
        Name.coldStarts: "First invocations of a function after its placement, by cluster.",
        Name.firstInvocationDuration: "Duration of the first invocation of a function after its placement.",
        Name.proxyRefusals: "Requests the proxy refused because they do not address a Direktiv function, by reason.",
        Name.webhookCertificateExpiry:
            "When the certificate this replica's webhook serves expires (Unix time), and when the CA that signed it does, by certificate.",
        Name.leader: "1 while this replica holds the leader Lease (it garbage-collects FunctionPlacements), else 0.",
        Name.placementWriteFailures:
            "Decisions that held but could not be written as a FunctionPlacement (the leader records them later from the workload).",
        Name.failovers: "Functions the leader moved off a cluster that could not run them, or back, by source and target cluster.",
        Name.strandedFunctions: "Functions whose cluster cannot run them and that no other cluster may take, by cluster.",
        Name.failoverMovesWaiting: "Moves due but waiting for the failover.maxMovesPerMinute budget, at the leader's last pass.",
        Name.clusterLatency: "Round trip from the main cluster to a cluster, by source: liqo (its Connection), agent (the floor of proxied calls).",
        Name.direktivAPIFailures: "Reads of Direktiv's namespace list (--direktiv-api) that failed; the last list stays in force.",
        Name.direktivNamespacesDiscovered: "Direktiv namespaces in the last list read from Direktiv's API.",
    ]

    /// Buckets of the duration histograms: invocations span milliseconds to Direktiv's 300 s default deadline.
    public static let durationBuckets: [String: [Duration]] = {
        let invocation: [Duration] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
        ]
        let placement: [Duration] = [
            .microseconds(10), .microseconds(50), .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(10),
            .milliseconds(50),
        ]
        return [Name.invocationDuration: invocation, Name.firstInvocationDuration: invocation, Name.placementDuration: placement]
    }()

    /// Exports every metric without labels at its starting value, so that dashboards and alerts
    /// see a series from the first scrape instead of "No data" until the first event (as
    /// Prometheus' instrumentation guide asks). Call once, before anything is recorded.
    public func exportStartingValues() {
        Counter(label: Name.rulesReloadFailures, factory: factory).increment(by: 0)
        Gauge(label: Name.inventoryStale, factory: factory).record(0)
        _ = Timer(label: Name.placementDuration, factory: factory)
        Gauge(label: Name.leader, factory: factory).record(0)
        Counter(label: Name.placementWriteFailures, factory: factory).increment(by: 0)
        Gauge(label: Name.failoverMovesWaiting, factory: factory).record(0)
    }

    /// Whether this replica leads.
    public func leader(_ isLeader: Bool) {
        Gauge(label: Name.leader, factory: factory).record(isLeader ? 1 : 0)
    }

    /// The leader moved a function from one cluster to another.
    public func failover(from: String, to: String) {
        Counter(label: Name.failovers, dimensions: [("from", from), ("to", to)], factory: factory).increment()
    }

    /// Stranded functions per cluster (the caller passes 0 for clusters that had some before).
    public func strandedFunctions(_ counts: [String: Int]) {
        for (cluster, count) in counts {
            Gauge(label: Name.strandedFunctions, dimensions: [("cluster", cluster)], factory: factory).record(count)
        }
    }

    /// Moves waiting for the per-minute budget.
    public func failoverMovesWaiting(_ count: Int) {
        Gauge(label: Name.failoverMovesWaiting, factory: factory).record(count)
    }

    /// A decision that could not be shared as a FunctionPlacement.
    public func placementWriteFailed() {
        Counter(label: Name.placementWriteFailures, factory: factory).increment()
    }

    /// Exports a cluster's upstream error counters at 0 for each of the proxy's bounded
    /// `reasons`, so a cluster without failures shows 0 rather than nothing.
    public func upstreamErrorsStart(cluster: String, reasons: [String]) {
        for reason in reasons {
            Counter(label: Name.upstreamErrors, dimensions: [("cluster", cluster), ("reason", reason)], factory: factory).increment(by: 0)
        }
    }

    /// Records when `certificate` (`serving`, the certificate the webhook serves, or `ca`, the
    /// CA that signed it) expires, in Unix seconds.
    public func webhookCertificateExpiry(_ certificate: String, at expiry: Double) {
        Gauge(label: Name.webhookCertificateExpiry, dimensions: [("certificate", certificate)], factory: factory).record(expiry)
    }

    /// 1 while the inventory may be out of date because the API server cannot be reached.
    public func inventoryStale(_ stale: Bool) {
        Gauge(label: Name.inventoryStale, factory: factory).record(stale ? 1 : 0)
    }

    /// One admission request; `outcome` is the placement outcome, `ignored` or `invalid`.
    public func admissionRequest(kind: String, operation: String, outcome: String) {
        let kind = ["Service", "Deployment"].contains(kind) ? kind : "other"
        let operation = ["CREATE", "UPDATE", "DELETE", "CONNECT"].contains(operation) ? operation : "unknown"
        Counter(label: Name.admissionRequests, dimensions: [("kind", kind), ("operation", operation), ("outcome", outcome)], factory: factory)
            .increment()
    }

    /// One placement decision for a function, and how long deciding took.
    public func placement(_ decision: PlacementDecision, duration: Duration) {
        Counter(
            label: Name.placements,
            dimensions: [
                ("direktiv_namespace", decision.direktivNamespace ?? "unknown"), ("cluster", decision.cluster ?? "none"),
                ("outcome", decision.outcome.rawValue),
            ],
            factory: factory
        ).increment()
        Timer(label: Name.placementDuration, factory: factory).record(duration: duration)
    }

    /// A cluster's round trip from one source; nil removes the series (no measurement).
    public func clusterLatency(_ cluster: String, source: String, seconds: Double?) {
        let gauge = Gauge(label: Name.clusterLatency, dimensions: [("cluster", cluster), ("source", source)], factory: factory)
        if let seconds {
            gauge.record(seconds)
        } else {
            gauge.destroy()
        }
    }

    /// A read of Direktiv's namespace list failed.
    public func direktivAPIFailed() {
        Counter(label: Name.direktivAPIFailures, factory: factory).increment()
    }

    /// The size of the last namespace list read from Direktiv's API.
    public func direktivNamespacesDiscovered(_ count: Int) {
        Gauge(label: Name.direktivNamespacesDiscovered, factory: factory).record(count)
    }

    public func rulesReloadFailed() {
        Counter(label: Name.rulesReloadFailures, factory: factory).increment()
    }

    /// A cluster's capacity and readiness from the latest inventory snapshot.
    public func cluster(_ name: String, freeMilliCPU: Int64, freeMemoryBytes: Int64, ready: Bool) {
        let dimensions = [("cluster", name)]
        Gauge(label: Name.clusterFreeCPU, dimensions: dimensions, factory: factory).record(Double(freeMilliCPU) / 1000)
        Gauge(label: Name.clusterFreeMemory, dimensions: dimensions, factory: factory).record(freeMemoryBytes)
        Gauge(label: Name.clusterReady, dimensions: dimensions, factory: factory).record(ready ? 1 : 0)
    }

    /// Stops exporting a cluster that left the inventory.
    public func clusterRemoved(_ name: String) {
        let dimensions = [("cluster", name)]
        for label in [Name.clusterFreeCPU, Name.clusterFreeMemory, Name.clusterReady] {
            Gauge(label: label, dimensions: dimensions, factory: factory).destroy()
        }
    }

    /// The labels of one function's invocations; every value is bounded.
    public struct InvocationLabels: Sendable, Hashable {
        public var direktivNamespace: String
        public var function: String
        public var cluster: String

        public init(direktivNamespace: String, function: String, cluster: String) {
            self.direktivNamespace = direktivNamespace
            self.function = function
            self.cluster = cluster
        }

        public static let unknown = InvocationLabels(direktivNamespace: "unknown", function: "unknown", cluster: "unknown")
    }

    /// The metric handles of one function's invocations (see `InvocationMeters`).
    public func invocationMeters(_ labels: InvocationLabels) -> InvocationMeters {
        InvocationMeters(labels: labels, factory: factory)
    }

    /// One function's invocation metrics, looked up once and then kept by the proxy, so a call
    /// records into its handles without a lookup by name. Not thread-safe: one per event loop.
    public final class InvocationMeters {
        public let labels: InvocationLabels
        private let factory: any MetricsFactory
        private let inFlight: Meter
        private let duration: Timer
        private var calls: [Int: Counter] = [:]
        /// Made at the first cold start, so clusters without one export nothing.
        private var coldStarts: (count: Counter, duration: Timer)?

        init(labels: InvocationLabels, factory: any MetricsFactory) {
            self.labels = labels
            self.factory = factory
            inFlight = Meter(label: Name.invocationsInFlight, dimensions: [("cluster", labels.cluster)], factory: factory)
            functionDimensions = [("direktiv_namespace", labels.direktivNamespace), ("function", labels.function), ("cluster", labels.cluster)]
            duration = Timer(label: Name.invocationDuration, dimensions: functionDimensions, factory: factory)
        }

        private let functionDimensions: [(String, String)]

        public func started() {
            inFlight.increment()
        }

        /// One finished invocation: its status code and duration; the first call of a placement
        /// also counts as a cold start.
        public func finished(code: Int, duration elapsed: Duration, coldStart: Bool) {
            inFlight.decrement()
            if let counter = calls[code] {
                counter.increment()
            } else {
                let counter = Counter(label: Name.invocations, dimensions: functionDimensions + [("code", String(code))], factory: factory)
                calls[code] = counter
                counter.increment()
            }
            duration.record(duration: elapsed)
            guard coldStart else { return }
            let cold =
                coldStarts ?? (
                    Counter(label: Name.coldStarts, dimensions: [("cluster", labels.cluster)], factory: factory),
                    Timer(label: Name.firstInvocationDuration, dimensions: [("cluster", labels.cluster)], factory: factory)
                )
            coldStarts = cold
            cold.count.increment()
            cold.duration.record(duration: elapsed)
        }
    }

    /// One call that failed between the proxy and the function; `reason` is one of the proxy's
    /// bounded failure reasons.
    public func upstreamError(cluster: String, reason: String) {
        Counter(label: Name.upstreamErrors, dimensions: [("cluster", cluster), ("reason", reason)], factory: factory).increment()
    }

    /// One request the proxy refused; `reason` is one of its bounded refusal reasons.
    public func proxyRefused(reason: String) {
        Counter(label: Name.proxyRefusals, dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// 1 while a Knative feature flag the agent's patch needs is disabled.
    public func knativeFeature(_ flag: String, disabled: Bool) {
        Gauge(label: Name.knativeFeatureDisabled, dimensions: [("flag", flag)], factory: factory).record(disabled ? 1 : 0)
    }
}
