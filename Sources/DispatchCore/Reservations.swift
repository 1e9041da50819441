import KubeModels

/// Capacity promised to a placed function whose pods are not visible yet.
public struct Reservation: Sendable, Hashable {
    public var function: FunctionKey
    public var cluster: String
    public var requestPerPod: Resources
    public var replicas: Int
    public var expiresAt: ContinuousClock.Instant

    public init(function: FunctionKey, cluster: String, requestPerPod: Resources, replicas: Int, expiresAt: ContinuousClock.Instant) {
        self.function = function
        self.cluster = cluster
        self.requestPerPod = requestPerPod
        self.replicas = replicas
        self.expiresAt = expiresAt
    }

    public var total: Resources { requestPerPod * Int64(replicas) }
}

/// The open reservations: a burst of creations sees each other's requests before their pods exist.
///
/// Bounded: at most `limit` reservations are open; a new one beyond it replaces the one that
/// expires first, so a flood of creations cannot grow the book (it only expires the flood's
/// promises sooner).
public struct ReservationBook: Sendable {
    public private(set) var entries: [FunctionKey: Reservation] = [:]
    /// The most open reservations kept.
    public let limit: Int

    public init(limit: Int = 4096) {
        self.limit = max(1, limit)
    }

    /// Records a reservation for a placed function, replacing any earlier one for it.
    public mutating func reserve(_ reservation: Reservation) {
        if entries[reservation.function] == nil, entries.count >= limit,
            let first = entries.min(by: { $0.value.expiresAt < $1.value.expiresAt })?.key
        {
            entries[first] = nil
        }
        entries[reservation.function] = reservation
    }

    /// Forgets a function's reservation (it was deleted or its creation failed).
    public mutating func release(_ function: FunctionKey) {
        entries[function] = nil
    }

    /// Drops reservations that expired or whose pods now show up on their cluster in `inventory`.
    public mutating func prune(inventory: ClusterInventory, now: ContinuousClock.Instant) {
        entries = entries.filter { function, reservation in
            reservation.expiresAt > now && !(inventory.functionClusters[function]?.contains(reservation.cluster) ?? false)
        }
    }

    /// Open reservations grouped by cluster.
    public func byCluster() -> [String: [Reservation]] {
        Dictionary(grouping: entries.values, by: \.cluster)
    }

    public var isEmpty: Bool { entries.isEmpty }
}
