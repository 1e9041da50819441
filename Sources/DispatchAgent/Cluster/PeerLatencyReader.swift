import DispatchCore
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle

/// Keeps ``AgentState/latencies`` current: for each cluster of the inventory, Liqo's measured
/// round trip (its `Connection` objects, `networking.liqo.io/v1beta1`, `status.latency`, matched
/// to the cluster by the `liqo.io/remote-cluster-id` its virtual nodes carry) and the agent's
/// own (the floor of its proxied calls, ``InvocationStatistics/floor(cluster:)``), every
/// `interval`, with the gauge `direktiv_dispatch_cluster_latency_seconds{cluster,source}`.
///
/// Without Liqo's Connection kind (Liqo 0.x, or no peering yet) only the agent's measurement and
/// local clusters' 0 ms are known; a failed read keeps the last Liqo values.
public final class PeerLatencyReader: Service, Sendable {
    public static let connections = ResourceDescriptor(
        group: "networking.liqo.io", version: "v1beta1", resource: "connections", kind: "Connection", isNamespaced: true)
    /// Liqo's label on its per-peer objects.
    static let remoteClusterLabel = "liqo.io/remote-cluster-id"

    private let client: KubeClient
    private let state: AgentState
    private let inventory: @Sendable () -> ClusterInventory
    /// Returns once the inventory has listed the cluster (the first read needs its clusters).
    private let synced: @Sendable () async -> Void
    private let statistics: InvocationStatistics
    private let interval: Duration
    private let metrics: DispatchMetrics
    private let logger: Logger
    /// Liqo's measurements by remote cluster id, from the last successful read.
    private let lastRead = LockedValue<[String: ClusterLatency.Measurement]>([:])
    private let reported = LockedValue<Set<String>>([])
    private let lastProblem = LockedValue<String?>(nil)

    public init(
        client: KubeClient, state: AgentState, inventory: @escaping @Sendable () -> ClusterInventory,
        synced: @escaping @Sendable () async -> Void = {}, statistics: InvocationStatistics, interval: Duration = .seconds(10),
        metrics: DispatchMetrics = DispatchMetrics(), logger: Logger
    ) {
        self.client = client
        self.state = state
        self.inventory = inventory
        self.synced = synced
        self.statistics = statistics
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.synced() }
        await repeatUntilShutdown(every: interval) { await self.refresh() }
    }

    /// Reads Liqo's Connections once and recomputes every cluster's latencies.
    public func refresh() async {
        do {
            let items = try await client.list(JSONValue.self, Self.connections).items
            lastRead.set(Self.measurements(items))
            report(nil)
        } catch let error as KubeAPIError where error.isNotFound {
            lastRead.set([:])
            report(nil)
        } catch {
            report("\(error)")
        }
        update()
    }

    /// Liqo's latency per remote cluster id: the newest Connection of each peer that reports one.
    static func measurements(_ connections: [JSONValue]) -> [String: ClusterLatency.Measurement] {
        var result: [String: ClusterLatency.Measurement] = [:]
        for connection in connections {
            guard let id = connection[path: "metadata", "labels", remoteClusterLabel]?.stringValue,
                let value = connection[path: "status", "latency", "value"]?.stringValue, let seconds = ClusterLatency.seconds(goDuration: value)
            else { continue }
            let observedAt = FunctionPlacement.parse(connection[path: "status", "latency", "timestamp"]?.stringValue) ?? Date()
            if let known = result[id], known.observedAt > observedAt { continue }
            result[id] = ClusterLatency.Measurement(seconds: seconds, observedAt: observedAt)
        }
        return result
    }

    /// Combines both sources for every cluster of the inventory into the state and the gauge.
    func update() {
        let byID = lastRead.get()
        let snapshot = inventory()
        var latencies: [String: ClusterLatency] = [:]
        for cluster in snapshot.clusters {
            // A peer's virtual nodes share its id; the newest measurement of any of them counts.
            let liqo = cluster.remoteClusterIDs.compactMap { byID[$0] }.max { $0.observedAt < $1.observedAt }
            latencies[cluster.name] = ClusterLatency(liqo: liqo, agent: statistics.floor(cluster: cluster.name), isLocal: cluster.kind == .local)
        }
        var series = Set<String>()
        for (cluster, latency) in latencies {
            for (source, measurement) in [("liqo", latency.liqo), ("agent", latency.agent)] {
                guard let measurement else { continue }
                metrics.clusterLatency(cluster, source: source, seconds: measurement.seconds)
                series.insert("\(cluster)\u{0}\(source)")
            }
        }
        for gone in reported.exchange(series).subtracting(series) {
            let parts = gone.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            if parts.count == 2 { metrics.clusterLatency(parts[0], source: parts[1], seconds: nil) }
        }
        // Last, so that whoever sees the state sees the gauges too.
        let now = Date()
        state.latencyTable = LatencyTable(latencies.compactMapValues { $0.estimate(at: now) }, for: snapshot)
        state.latencies = latencies
    }

    private func report(_ problem: String?) {
        guard lastProblem.exchange(problem) != problem else { return }
        if let problem {
            logger.warning("cannot read Liqo's Connections; keeping the last latencies", metadata: ["error": "\(problem)"])
        }
    }
}
