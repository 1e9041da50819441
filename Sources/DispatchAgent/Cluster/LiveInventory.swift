import DispatchCore
import DispatchMetrics
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the cluster inventory current from Node and Pod informers and publishes immutable
/// snapshots.
///
/// Pod changes update per-node sums one pod at a time; a snapshot is rebuilt from the nodes and
/// those sums at most once per `minimumRebuildInterval`, so a burst of events costs one rebuild.
/// When the API server cannot be reached the last snapshot stays and the inventory reports
/// itself stale until both watches are back.
public final class LiveInventory: Service, Sendable {
    /// How nodes are read: the cluster label and the taints function pods tolerate.
    public struct Settings: Sendable, Hashable {
        public var clusterLabel: String
        public var toleratedTaintKeys: Set<String>

        public init(clusterLabel: String, toleratedTaintKeys: Set<String>) {
            self.clusterLabel = clusterLabel
            self.toleratedTaintKeys = toleratedTaintKeys
        }

        public init(rules: Rules) {
            self.init(clusterLabel: rules.clusterLabel, toleratedTaintKeys: rules.liqo.addToleration ? [rules.liqo.taintKey] : [])
        }
    }

    /// Field selector for pods that hold resources: bound to a node and not finished.
    public static let podFieldSelector = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"

    private struct State {
        var settings: Settings
        var nodes: [String: Node] = [:]
        var aggregates = PodAggregates()
        var snapshot: ClusterInventory
        var nodesSynced = false
        var podsSynced = false
        var nodesConnected = true
        var podsConnected = true
        /// A snapshot built after both lists completed has been published.
        var snapshotSynced = false

        var isStale: Bool { !(nodesConnected && podsConnected) }
        var readiness: Readiness { Readiness(isSynced: snapshotSynced, isStale: isStale) }
    }

    /// Whether the inventory can be trusted: listed at least once, and not cut off since.
    public struct Readiness: Sendable, Hashable {
        public var isSynced: Bool
        public var isStale: Bool
        public var isReady: Bool { isSynced && !isStale }
    }

    private let nodeInformer: Informer<Node, Node>
    private let podInformer: Informer<Pod, PodUsage>
    private let state: Mutex<State>
    private let snapshotBroadcast: Broadcast<ClusterInventory>
    private let readinessBroadcast = Broadcast(Readiness(isSynced: false, isStale: false))
    private let rebuildSignal: AsyncStream<Void>
    private let requestRebuild: AsyncStream<Void>.Continuation
    private let minimumRebuildInterval: Duration
    private let logger: Logger
    private let metrics: DispatchMetrics

    public init(
        client: KubeClient, settings: Settings, logger: Logger, metrics: DispatchMetrics = DispatchMetrics(),
        minimumRebuildInterval: Duration = .milliseconds(100), backoff: Backoff = Backoff()
    ) {
        self.nodeInformer = Informer(client: client, resource: .nodes, backoff: backoff, logger: logger)
        self.podInformer = Informer(
            client: client,
            resource: .pods,
            options: ListOptions(fieldSelector: Self.podFieldSelector),
            backoff: backoff,
            logger: logger,
            transform: PodUsage.init
        )
        let empty = ClusterInventory.empty(clusterLabel: settings.clusterLabel)
        self.state = Mutex(State(settings: settings, snapshot: empty))
        self.snapshotBroadcast = Broadcast(empty)
        (rebuildSignal, requestRebuild) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.minimumRebuildInterval = minimumRebuildInterval
        self.logger = logger
        self.metrics = metrics
    }

    /// The latest snapshot.
    public var snapshot: ClusterInventory { state.withLock { $0.snapshot } }

    /// Every snapshot published from now on, starting with the current one.
    public func snapshots() -> AsyncStream<ClusterInventory> {
        snapshotBroadcast.follow(buffering: .newest)
    }

    public var readiness: Readiness { state.withLock { $0.readiness } }

    /// Readiness now and on every change.
    public func readinessChanges() -> AsyncStream<Readiness> {
        readinessBroadcast.follow(buffering: .every)
    }

    /// Applies new settings (after a rules reload) to the next snapshot.
    public func reconfigure(_ settings: Settings) {
        let changed = state.withLock { state in
            defer { state.settings = settings }
            return state.settings != settings
        }
        if changed { requestRebuild.yield() }
    }

    public func run() async throws {
        let nodeEvents = nodeInformer.subscribe()
        let podEvents = podInformer.subscribe()
        metrics.inventoryStale(false)
        try await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.nodeInformer.run() }
                group.addTask { try await self.podInformer.run() }
                group.addTask { await self.follow(nodeEvents, apply: self.applyNode) }
                group.addTask { await self.follow(podEvents, apply: self.applyPod) }
                group.addTask { await self.rebuildLoop() }
            }
        }
        snapshotBroadcast.finish()
        readinessBroadcast.finish()
    }

    private func follow<Stored>(_ events: AsyncStream<InformerEvent<Stored>>, apply: (InformerEvent<Stored>, inout State) -> Void) async {
        for await event in events {
            let staleChanged = state.withLock { state in
                let before = state.readiness
                apply(event, &state)
                let after = state.readiness
                // Published under the state lock, so that readiness changes arrive in order.
                readinessBroadcast.publishIfChanged(after)
                return before.isStale != after.isStale ? after.isStale : nil
            }
            if let stale = staleChanged {
                metrics.inventoryStale(stale)
                if stale {
                    logger.warning("inventory is stale: the Kubernetes API cannot be reached; placing with the last snapshot")
                } else {
                    logger.info("inventory caught up with the Kubernetes API")
                }
            }
            requestRebuild.yield()
        }
    }

    private func applyNode(_ event: InformerEvent<Node>, _ state: inout State) {
        switch event {
        case .initial(let nodes, let synced):
            state.nodes = nodes
            state.nodesSynced = state.nodesSynced || synced
        case .added(let key, let node), .modified(let key, _, let node):
            state.nodes[key] = node
        case .deleted(let key, _):
            state.nodes[key] = nil
        case .synced:
            state.nodesSynced = true
            state.nodesConnected = true
        case .reconnected:
            state.nodesConnected = true
        case .connectionLost:
            state.nodesConnected = false
        }
    }

    private func applyPod(_ event: InformerEvent<PodUsage>, _ state: inout State) {
        switch event {
        case .initial(let pods, let synced):
            state.aggregates = PodAggregates(pods.values)
            state.podsSynced = state.podsSynced || synced
        case .added(_, let pod):
            state.aggregates.add(pod)
        case .modified(_, let old, let new):
            state.aggregates.update(from: old, to: new)
        case .deleted(_, let pod):
            state.aggregates.remove(pod)
        case .synced:
            state.podsSynced = true
            state.podsConnected = true
        case .reconnected:
            state.podsConnected = true
        case .connectionLost:
            state.podsConnected = false
        }
    }

    private func rebuildLoop() async {
        for await _ in rebuildSignal {
            let (nodes, aggregates, settings, listed) = state.withLock { state in
                (Array(state.nodes.values), state.aggregates, state.settings, state.nodesSynced && state.podsSynced)
            }
            // Built outside the lock: events keep flowing while a large inventory is assembled.
            let inventory = ClusterInventory(
                nodes: nodes, aggregates: aggregates, clusterLabel: settings.clusterLabel, toleratedTaintKeys: settings.toleratedTaintKeys)
            state.withLock { state in
                state.snapshot = inventory
                snapshotBroadcast.publish(inventory)
                if listed, !state.snapshotSynced {
                    state.snapshotSynced = true
                    logger.notice("inventory synced", metadata: ["clusters": "\(inventory.clusters.count)", "nodes": "\(nodes.count)"])
                    readinessBroadcast.publishIfChanged(state.readiness)
                }
            }
            guard (try? await Task.sleep(for: minimumRebuildInterval)) != nil else { return }
        }
    }
}
