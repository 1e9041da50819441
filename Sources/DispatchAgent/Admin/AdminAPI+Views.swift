import DispatchCore
import KubeModels

/// The JSON shapes of the admin API's answers.
extension AdminAPI {
    /// An amount in Kubernetes' notation and in plain numbers.
    struct ResourcesView: Encodable {
        var cpu: String
        var memory: String
        var milliCPU: Int64
        var memoryBytes: Int64

        init(_ resources: Resources) {
            cpu = Resources.formatCPU(resources.milliCPU)
            memory = Resources.formatMemory(resources.memoryBytes)
            milliCPU = resources.milliCPU
            memoryBytes = resources.memoryBytes
        }
    }

    /// Latency measured by the proxy over its recent calls.
    struct LatencyView: Encodable {
        var p50Seconds: Double
        var p95Seconds: Double
        /// Calls the percentiles come from (the most recent ones).
        var samples: Int
        /// Calls measured since the agent started.
        var total: Int

        init?(_ summary: LatencySummary?) {
            guard let summary else { return nil }
            p50Seconds = summary.p50.inSeconds
            p95Seconds = summary.p95.inSeconds
            samples = summary.samples
            total = summary.total
        }
    }

    struct ClusterView: Encodable {
        var name: String
        var kind: String
        var remoteClusterIDs: [String]
        var ready: Bool
        var reasons: [String]
        var nodes: Int
        var allocatable: ResourcesView
        var requested: ResourcesView
        var free: ResourcesView
        var largestNodeFree: ResourcesView
        var functions: Int
        var latency: LatencyView?
        /// The round trip from the main cluster, from Liqo and from the agent's calls, and the
        /// one `lowest-latency` ranks by.
        var roundTrip: RoundTripView
    }

    struct RoundTripView: Encodable {
        var liqo: ClusterLatency.Measurement?
        var agent: ClusterLatency.Measurement?
        var effective: LatencyEstimate?
    }

    struct ClustersBody: Encodable {
        var clusters: [ClusterView]
        /// Nodes without the cluster label, which no function is placed on.
        var unassignedNodes: [String]
        var inventoryStale: Bool
    }

    struct PlacementView: Encodable {
        /// `placed`, `fallback`, `kept`, `unplaced`, from the function's FunctionPlacement; absent without one.
        var outcome: String?
        var reason: String
        var decidedAt: String? = nil
        /// The replica that decided.
        var decidedBy: String? = nil
        /// The cluster the FunctionPlacement names.
        var placementCluster: String? = nil
        /// The placement's Ready condition: `True` when the workload is pinned there and no pod runs elsewhere.
        var ready: String? = nil
    }

    struct StatusBody: Encodable {
        /// This replica's name in the leader Lease.
        var identity: String?
        var leader: LeaderView
        /// FunctionPlacements this replica's cache holds, and how many of them still reserve capacity.
        var placements: Int
        var reservingPlacements: Int
        var functions: Int
        var inventoryStale: Bool
    }

    struct LeaderView: Encodable {
        /// The holder of the leader Lease, as last read.
        var holder: String?
        var isLeader: Bool
    }

    struct FunctionView: Encodable {
        var name: String
        var kubernetesNamespace: String
        var kind: String
        var direktivNamespace: String?
        var cluster: String?
        var placement: PlacementView
        var ready: Bool
        var readyReason: String?
        var url: String
        var latency: LatencyView?
    }

    struct FunctionsBody: Encodable {
        var functions: [FunctionView]
    }

    struct OverrideBody: Encodable {
        var namespace: String
        var override: NamespaceOverride
        var warnings: [String]?
    }

    struct OverridesBody: Encodable {
        var overrides: [String: NamespaceOverride]
        var configMap: String
        var resourceVersion: String?
    }

    struct CreatedBody: Encodable {
        var name: String
        var direktivNamespace: String
        var kubernetesNamespace: String
        var url: String
        var placement: PlacementDecision
    }
}
