extension Duration {
    /// The duration in whole nanoseconds, as swift-metrics' timers take it; saturated at
    /// `Int64`'s bounds (about ±292 years) instead of trapping. (NIO's timers take a `Duration`
    /// through `TimeAmount(_:)`, which clamps likewise.)
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, sumOverflow) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if sumOverflow { return whole < 0 ? .min : .max }
        return total
    }
}
