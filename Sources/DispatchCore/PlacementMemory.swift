/// Where functions were placed recently, so a function Direktiv deletes and creates again (0.8.1+
/// recreates on every change) lands on the same cluster instead of paying a move.
public struct PlacementMemory: Sendable {
    private var entries: [FunctionKey: (cluster: String, at: ContinuousClock.Instant)] = [:]
    /// How long a placement is remembered after it was last seen.
    public var retention: Duration

    public init(retention: Duration = .seconds(900)) {
        self.retention = retention
    }

    public mutating func remember(_ function: FunctionKey, on cluster: String, at now: ContinuousClock.Instant) {
        entries[function] = (cluster, now)
    }

    /// The remembered cluster, if the memory is fresh.
    public func cluster(of function: FunctionKey, at now: ContinuousClock.Instant) -> String? {
        guard let entry = entries[function], now - entry.at < retention else { return nil }
        return entry.cluster
    }

    public mutating func forget(_ function: FunctionKey) {
        entries[function] = nil
    }

    /// Drops what is older than the retention.
    public mutating func prune(at now: ContinuousClock.Instant) {
        entries = entries.filter { now - $0.value.at < retention }
    }

    public var count: Int { entries.count }
}
