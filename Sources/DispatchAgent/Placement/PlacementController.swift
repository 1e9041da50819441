import DispatchCore
import DispatchMetrics
import Foundation
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// The leader's keeper of the FunctionPlacements: every `interval`, while this replica leads and
/// has read the workloads, the placements and the inventory once, it runs one
/// ``PlacementUpkeep`` pass (backfill, conditions, reservations ended, placements of long-gone
/// workloads deleted), then its failover pass (functions off clusters that cannot run them, and
/// back); sooner when a cluster turns (un)schedulable or a failover clock falls due
/// (``PassSchedule``). Every write is conditional or idempotent, so a pass interrupted by a
/// change of leader is finished by the next leader.
public final class PlacementController: Service, Sendable {
    let client: KubeClient
    let directory: FunctionDirectory
    let inventory: LiveInventory
    let state: AgentState
    let leadership: Broadcast<LeaderElector.Leadership>
    let identity: String
    let interval: Duration
    let logger: Logger
    let now: @Sendable () -> Date
    let events: PlacementEvents?
    let metrics: DispatchMetrics
    /// When this leader moved functions in the last minute (the move budget; a new leader starts
    /// with a full one: at most one minute's worth of extra moves).
    let recentMoves = Mutex<[Date]>([])
    /// Clusters reported with stranded functions, so that they drop to 0 when none are left.
    let strandedClusters = Mutex<Set<String>>([])
    let schedule: Mutex<PassSchedule>
    /// How often the schedule is looked at: what a pass can be early by is at most this late.
    static let scheduleTick: Duration = .milliseconds(250)

    public init(
        client: KubeClient, directory: FunctionDirectory, inventory: LiveInventory, state: AgentState,
        leadership: Broadcast<LeaderElector.Leadership>, identity: String, interval: Duration = .seconds(5), events: PlacementEvents? = nil,
        metrics: DispatchMetrics = DispatchMetrics(), logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.events = events
        self.metrics = metrics
        self.client = client
        self.directory = directory
        self.inventory = inventory
        self.state = state
        self.leadership = leadership
        self.identity = identity
        self.interval = interval
        self.schedule = Mutex(PassSchedule(interval: interval.inSeconds))
        self.logger = logger
        self.now = now
    }

    public func run() async throws {
        await repeatUntilShutdown(every: min(interval, Self.scheduleTick)) {
            guard self.leadership.value.isLeader else { return }
            let date = self.now()
            let schedulable = FailoverPlanner.schedulableClusters(in: self.inventory.snapshot)
            guard self.schedule.withLock({ $0.isDue(now: date, schedulable: schedulable) }) else { return }
            guard let report = await self.pass() else { return }
            self.schedule.withLock { $0.passed(at: date, schedulable: schedulable, nextDue: report.nextDue) }
        }
    }

    /// What a finished pass leaves for the schedule.
    struct PassReport {
        /// When the earliest failover or failback clock falls due; nil when none runs.
        var nextDue: Date?
    }

    /// One pass; nil when skipped (until the caches have listed everything once, an empty cache
    /// would make every workload look deleted) or cut short by losing the lead.
    func pass() async -> PassReport? {
        guard directory.hasSynced, inventory.readiness.isSynced else { return nil }
        let workloads = Dictionary(directory.records.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let actions = PlacementUpkeep.plan(
            placements: directory.placements, workloads: workloads, inventory: inventory.snapshot, now: now(),
            retention: TimeInterval(state.rules.placementRetentionSeconds), identity: identity)
        for action in actions {
            guard leadership.value.isLeader else { return nil }
            await run(action)
        }
        return await failoverPass(workloads: workloads)
    }

    func run(_ action: PlacementUpkeep.Action) async {
        let key = action.key
        do {
            switch action {
            case .create(let placement):
                var body = placement
                body.status = nil
                _ = try await client.create(body, .functionPlacements, namespace: key.namespace, fieldManager: "direktiv-dispatch")
                if let status = placement.status {
                    _ = try await client.patch(
                        JSONValue.self, .functionPlacements, name: key.name, namespace: key.namespace,
                        patch: .merge(["status": try JSONValue(encoding: status)]), subresource: "status")
                }
                logger.info("recorded a placement made before FunctionPlacements existed", metadata: ["function": "\(key)"])
            case .patchStatus(_, let patch):
                _ = try await client.patch(
                    JSONValue.self, .functionPlacements, name: key.name, namespace: key.namespace, patch: .merge(["status": patch]),
                    subresource: "status")
            case .endReservation(_, let resourceVersion):
                _ = try await client.patch(
                    JSONValue.self, .functionPlacements, name: key.name, namespace: key.namespace,
                    patch: .merge([
                        "metadata": [
                            "resourceVersion": resourceVersion.map(JSONValue.string) ?? .null,
                            "labels": [FunctionPlacement.reservingLabel: .null],
                            "annotations": [FunctionPlacement.reservedUntilAnnotation: .null],
                        ]
                    ]))
            case .delete(_, let resourceVersion):
                try await client.delete(
                    .functionPlacements, name: key.name, namespace: key.namespace,
                    options: DeleteOptions(preconditions: .init(resourceVersion: resourceVersion)))
                logger.info("deleted the placement of a workload gone longer than placementRetentionSeconds", metadata: ["function": "\(key)"])
            }
        } catch let error as KubeAPIError where error.code == 409 || error.isNotFound {
            // Another writer (a replica deciding, an earlier leader) came first; the next pass sees it.
            logger.debug("placement upkeep skipped a changed object", metadata: ["function": "\(key)", "error": "\(error)"])
        } catch {
            logger.warning("placement upkeep failed", metadata: ["function": "\(key)", "error": "\(error)"])
        }
    }
}
