import KubeModels

/// What the leader does about functions whose cluster can no longer run them, and about
/// functions that failed over once their cluster is back, decided from plain values.
///
/// The clocks live in the callers' objects (a FunctionPlacement's status), not here: the planner
/// is told since when each function's cluster has been unschedulable and since when the cluster
/// it left has been schedulable again, and answers with the marks to write when those change, so
/// a new leader continues the same clocks.
public enum FailoverPlanner {
    /// One placed function as the planner needs it. Times are seconds since the Unix epoch.
    public struct Function: Sendable, Hashable {
        public var key: FunctionKey
        public var direktivNamespace: String?
        /// The cluster it is placed on now.
        public var cluster: String
        public var requestPerPod: Resources
        public var replicas: Int
        /// Since when `cluster` has been seen unschedulable, as recorded; nil: not recorded.
        public var lostSince: Double?
        /// The cluster it failed over from, if it did (where failback returns it).
        public var failedOverFrom: String?
        /// Since when `failedOverFrom` has been seen schedulable again, as recorded.
        public var originBackSince: Double?

        public init(
            key: FunctionKey, direktivNamespace: String?, cluster: String, requestPerPod: Resources, replicas: Int, lostSince: Double? = nil,
            failedOverFrom: String? = nil, originBackSince: Double? = nil
        ) {
            self.key = key
            self.direktivNamespace = direktivNamespace
            self.cluster = cluster
            self.requestPerPod = requestPerPod
            self.replicas = replicas
            self.lostSince = lostSince
            self.failedOverFrom = failedOverFrom
            self.originBackSince = originBackSince
        }
    }

    public enum Action: Sendable, Hashable {
        /// Record that the function's cluster has been unschedulable since this time.
        case markLost(FunctionKey, since: Double)
        /// The cluster is schedulable again before the function moved: forget the mark.
        case clearLost(FunctionKey)
        /// Record that the cluster the function left has been schedulable since this time.
        case markOriginBack(FunctionKey, since: Double)
        /// The cluster it left is unschedulable again: forget that mark.
        case clearOriginBack(FunctionKey)
        /// Move the function: patch its workload's affinity to `decision.cluster`.
        case move(FunctionKey, from: String, decision: PlacementDecision, kind: MoveKind)
        /// No cluster may take it now; retried as the inventory changes.
        case stranded(FunctionKey, from: String, reason: String)
        /// Due to move, but the budget of moves per minute is spent.
        case deferred(FunctionKey, kind: MoveKind)
    }

    public enum MoveKind: String, Sendable, Hashable {
        case failover = "failedOver"
        case failback = "failedBack"
    }

    /// Whether a cluster can take pods: it is in the inventory and has a schedulable node (Ready,
    /// network available, not cordoned, no taint its pods do not tolerate).
    public static func isSchedulable(_ cluster: String, in inventory: ClusterInventory) -> Bool {
        inventory.cluster(named: cluster)?.isReady ?? false
    }

    /// The names of the clusters ``isSchedulable(_:in:)`` holds for.
    public static func schedulableClusters(in inventory: ClusterInventory) -> Set<String> {
        Set(inventory.clusters.lazy.filter(\.isReady).map(\.name))
    }

    /// The actions for one pass, in the order of the functions' keys.
    ///
    /// - Parameters:
    ///   - now: seconds since the Unix epoch.
    ///   - budget: moves allowed in this pass (what is left of `maxMovesPerMinute`); moves beyond
    ///     it are `deferred`.
    public static func plan(
        _ functions: [Function], rules: Rules, overrides: [String: NamespaceOverride], inventory: ClusterInventory,
        reservations: ReservationBook = ReservationBook(), latencies: LatencyTable = .empty, now: Double, budget: Int
    ) -> [Action] {
        var actions: [Action] = []
        var book = reservations
        var budget = max(0, budget)
        for function in functions.sorted(by: { $0.key < $1.key }) {
            let settings = rules.failover(for: function.direktivNamespace)
            let here = isSchedulable(function.cluster, in: inventory)
            // The clock of the function's own cluster.
            if here {
                if function.lostSince != nil { actions.append(.clearLost(function.key)) }
            } else if function.lostSince == nil {
                actions.append(.markLost(function.key, since: now))
            }
            // The clock of the cluster it left.
            var originBackSince = function.originBackSince
            if let origin = function.failedOverFrom {
                if isSchedulable(origin, in: inventory) {
                    if originBackSince == nil {
                        actions.append(.markOriginBack(function.key, since: now))
                        originBackSince = now
                    }
                } else if originBackSince != nil {
                    actions.append(.clearOriginBack(function.key))
                    originBackSince = nil
                }
            }
            guard settings.enabled else { continue }
            let after = Double(settings.afterSeconds)

            if !here, let since = function.lostSince, now - since >= after {
                let decision = decide(function, rules: rules, overrides: overrides, inventory: inventory, book: book, latencies: latencies)
                guard decision.outcome.hasCluster, let target = decision.cluster, target != function.cluster else {
                    actions.append(.stranded(function.key, from: function.cluster, reason: decision.summary))
                    continue
                }
                guard budget > 0 else {
                    actions.append(.deferred(function.key, kind: .failover))
                    continue
                }
                budget -= 1
                reserve(function, on: target, in: &book)
                actions.append(.move(function.key, from: function.cluster, decision: decision, kind: .failover))
                continue
            }

            if here, settings.failback, let origin = function.failedOverFrom, origin != function.cluster, let back = originBackSince,
                now - back >= after
            {
                // Back only where the rules still allow it: the origin must come out as kept.
                var request = PlacementRequest(
                    function: function.key, direktivNamespace: function.direktivNamespace, requestPerPod: function.requestPerPod,
                    replicas: function.replicas, currentCluster: origin)
                let decision = Placement.decide(
                    request, rules: rules, overrides: overrides, inventory: inventory, reservations: book, latencies: latencies)
                guard decision.outcome == .kept, decision.cluster == origin else { continue }
                guard budget > 0 else {
                    actions.append(.deferred(function.key, kind: .failback))
                    continue
                }
                budget -= 1
                reserve(function, on: origin, in: &book)
                actions.append(.move(function.key, from: function.cluster, decision: decision, kind: .failback))
            }
        }
        return actions
    }

    /// When the next clock reaches `afterSeconds`, after `now`: the earliest time a pass would
    /// move something it does not move now (counting the marks a pass at `now` writes). `nil`
    /// when no clock is running. A move already due and not made (stranded, or waiting for the
    /// budget) is not a future time: the inventory changing or the regular pass retries it.
    public static func nextDue(_ functions: [Function], rules: Rules, inventory: ClusterInventory, now: Double) -> Double? {
        var earliest: Double?
        for function in functions {
            let settings = rules.failover(for: function.direktivNamespace)
            guard settings.enabled else { continue }
            let after = Double(settings.afterSeconds)
            var due: Double?
            if !isSchedulable(function.cluster, in: inventory) {
                due = (function.lostSince ?? now) + after
            } else if settings.failback, let origin = function.failedOverFrom, origin != function.cluster, isSchedulable(origin, in: inventory) {
                due = (function.originBackSince ?? now) + after
            }
            if let due, due > now { earliest = min(earliest ?? due, due) }
        }
        return earliest
    }

    /// The decision for `function` by its rules, overrides and capacity. It never lands on the
    /// cluster it leaves: that one is not schedulable, which is exactly what the placement's
    /// health filter refuses, with the reason operators should read (an exclusion would read
    /// "excluded by override", which nobody set).
    static func decide(
        _ function: Function, rules: Rules, overrides: [String: NamespaceOverride], inventory: ClusterInventory, book: ReservationBook,
        latencies: LatencyTable = .empty
    ) -> PlacementDecision {
        Placement.decide(
            PlacementRequest(
                function: function.key, direktivNamespace: function.direktivNamespace, requestPerPod: function.requestPerPod,
                replicas: function.replicas),
            rules: rules, overrides: overrides, inventory: inventory, reservations: book, latencies: latencies)
    }

    /// Later moves of the same pass see this one's request on its new cluster.
    static func reserve(_ function: Function, on cluster: String, in book: inout ReservationBook) {
        book.reserve(
            Reservation(
                function: function.key, cluster: cluster, requestPerPod: function.requestPerPod, replicas: function.replicas,
                expiresAt: .now + .seconds(3600)))
    }
}
