import DispatchCore
import Foundation
import KubeModels

/// What the replicas' shared FunctionPlacements say for one decision: the placement already
/// recorded for the function (its cluster is kept across Direktiv's delete-and-recreate) and the
/// placements whose request still counts against their cluster.
public struct SharedPlacements: Sendable {
    /// The function's own placement, when one exists.
    public var own: FunctionPlacement?
    /// Placements marked as reserving (``FunctionPlacement/reservingLabel``), any function.
    public var reserving: [FunctionPlacement]
    /// Whether these were read from the API server for this decision (false: a replica's cache,
    /// which may lag another replica's latest decision by a watch event).
    public var isFresh: Bool

    public init(own: FunctionPlacement? = nil, reserving: [FunctionPlacement] = [], isFresh: Bool = false) {
        self.own = own
        self.reserving = reserving
        self.isFresh = isFresh
    }

    public static let none = SharedPlacements()

    /// The cluster the function keeps: the one its placement names.
    public var keptCluster: String? { own?.spec.cluster }

    /// The open reservations: each reserving placement's request on its cluster until its
    /// `reserved-until` time or until its pods are visible there, whichever comes first. The
    /// function being decided is left out: its new placement replaces its old one.
    ///
    /// - Parameters:
    ///   - now: the wall clock the `reserved-until` times compare with.
    ///   - instant: the same moment on the monotonic clock the book expires by.
    public func reservations(
        excluding function: FunctionKey?, inventory: ClusterInventory, now: Date, instant: ContinuousClock.Instant, limit: Int = 4096
    ) -> ReservationBook {
        var book = ReservationBook(limit: limit)
        for placement in reserving {
            let key = placement.key
            guard key != function, let cluster = placement.spec.cluster, let until = placement.reservedUntil, until > now,
                let request = placement.spec.request, request.replicas > 0
            else { continue }
            if inventory.functionClusters[key]?.contains(cluster) ?? false { continue }
            let remaining = min(until.timeIntervalSince(now), 86_400)
            book.reserve(
                Reservation(
                    function: key, cluster: cluster, requestPerPod: request.perPod, replicas: request.replicas,
                    expiresAt: instant + .milliseconds(Int64(remaining * 1000))))
        }
        return book
    }
}
