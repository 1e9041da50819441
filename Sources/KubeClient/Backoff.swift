/// Capped exponential backoff with full jitter: attempt *n* waits a random time up to
/// `min(cap, base × 2ⁿ)`, at least `base / 2`.
public struct Backoff: Sendable {
    public var base: Duration
    public var cap: Duration
    let random: @Sendable () -> Double

    public init(
        base: Duration = .milliseconds(200), cap: Duration = .seconds(30), random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.base = base
        self.cap = cap
        self.random = random
    }

    /// The wait before retry number `attempt` (0 for the first retry).
    public func delay(attempt: Int) -> Duration {
        let ceiling = min(cap, base * Double(1 << min(attempt, 30)))
        let floor = base / 2
        return max(floor, ceiling * random())
    }
}
