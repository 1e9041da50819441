import DispatchCore
import DispatchMetrics
import DispatchProxy
import KubeModels
import ServiceLifecycle

/// Exports each cluster's free capacity and readiness from every inventory snapshot.
public struct InventoryMetrics: Service {
    let inventory: LiveInventory
    let metrics: DispatchMetrics

    public init(inventory: LiveInventory, metrics: DispatchMetrics) {
        self.inventory = inventory
        self.metrics = metrics
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var exported: Set<String> = []
            for await snapshot in inventory.snapshots() {
                exported = export(snapshot, previously: exported)
            }
        }
    }

    /// Records `snapshot` and stops exporting clusters that left it; returns the clusters exported.
    func export(_ snapshot: ClusterInventory, previously: Set<String>) -> Set<String> {
        var names: Set<String> = []
        for cluster in snapshot.clusters {
            let free = cluster.schedulable.free
            metrics.cluster(cluster.name, freeMilliCPU: free.milliCPU, freeMemoryBytes: free.memoryBytes, ready: cluster.isReady)
            if !previously.contains(cluster.name) {
                metrics.upstreamErrorsStart(cluster: cluster.name, reasons: UpstreamFailure.allCases.map(\.reason))
            }
            names.insert(cluster.name)
        }
        for gone in previously.subtracting(names) { metrics.clusterRemoved(gone) }
        return names
    }
}
