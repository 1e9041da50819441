import Metrics

/// Every metric the agent records, defined in one place.
///
/// Recorded through swift-metrics; the composition root decides the backend (Prometheus in
/// `serve`). Names follow Prometheus conventions, and every label's values are bounded: clusters
/// and namespaces the agent knows, functions it has seen, or `unknown`.
public struct DispatchMetrics: Sendable {
    public init() {}

    public enum Name {
        public static let inventoryStale = "direktiv_dispatch_inventory_stale"
        public static let clusterFreeCPU = "direktiv_dispatch_cluster_free_cpu_cores"
        public static let clusterFreeMemory = "direktiv_dispatch_cluster_free_memory_bytes"
        public static let clusterReady = "direktiv_dispatch_cluster_ready"
    }

    /// 1 while the inventory may be out of date because the API server cannot be reached.
    public func inventoryStale(_ stale: Bool) {
        Gauge(label: Name.inventoryStale).record(stale ? 1 : 0)
    }
}
