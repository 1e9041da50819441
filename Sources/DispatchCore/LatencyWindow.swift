/// The most recent latencies of something, for percentiles an operator reads.
///
/// Keeps the last `capacity` samples in a ring; Prometheus histograms carry the full history.
public struct LatencyWindow: Sendable, Hashable {
    public let capacity: Int
    private var samples: [Duration] = []
    private var next = 0
    /// Samples recorded since the start, including those the ring has dropped.
    public private(set) var count = 0

    public init(capacity: Int = 1024) {
        precondition(capacity > 0)
        self.capacity = capacity
        samples.reserveCapacity(capacity)
    }

    public mutating func record(_ duration: Duration) {
        if samples.count < capacity {
            samples.append(duration)
        } else {
            samples[next] = duration
        }
        next = (next + 1) % capacity
        count += 1
    }

    /// The nearest-rank percentile (`fraction` in 0...1) of the samples kept, or `nil` when empty.
    public func percentile(_ fraction: Double) -> Duration? {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// p50 and p95 at once, sorting once.
    public var summary: LatencySummary? {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        func rank(_ fraction: Double) -> Duration {
            sorted[min(max(Int((fraction * Double(sorted.count)).rounded(.up)), 1), sorted.count) - 1]
        }
        return LatencySummary(p50: rank(0.5), p95: rank(0.95), samples: sorted.count, total: count)
    }
}

/// Percentiles of a `LatencyWindow`.
public struct LatencySummary: Sendable, Hashable {
    public var p50: Duration
    public var p95: Duration
    /// Samples the percentiles were computed from.
    public var samples: Int
    /// Samples ever recorded.
    public var total: Int

    public init(p50: Duration, p95: Duration, samples: Int, total: Int) {
        self.p50 = p50
        self.p95 = p95
        self.samples = samples
        self.total = total
    }
}

extension Duration {
    /// Seconds as a floating-point number, for JSON and metrics.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
