/// When the leader moves a function off a cluster that can no longer run it, and back.
///
/// The rules' top-level `failover` block sets them for every function; a rule's own `failover`
/// block overrides `enabled`, `afterSeconds` and `failback` for the namespaces it matches
/// (``FailoverOverride``). `maxMovesPerMinute` is a single budget across all functions.
public struct FailoverSettings: Sendable, Hashable {
    /// Whether functions are moved at all.
    public var enabled: Bool
    /// How long a function's cluster must have been unschedulable before the function moves, and
    /// schedulable again before it comes back: a glitch shorter than this moves nothing.
    public var afterSeconds: Int
    /// Whether a failed-over function returns to the cluster it left once that cluster has been
    /// schedulable again for `afterSeconds` and the rules still allow it.
    public var failback: Bool
    /// Moves at most per minute, across all functions, so a lost cluster does not become a storm.
    public var maxMovesPerMinute: Int

    public init(enabled: Bool = true, afterSeconds: Int = 60, failback: Bool = true, maxMovesPerMinute: Int = 30) {
        self.enabled = enabled
        self.afterSeconds = afterSeconds
        self.failback = failback
        self.maxMovesPerMinute = maxMovesPerMinute
    }

    /// The accepted ranges, for the parser's messages.
    public static let afterSecondsRange = 1...86_400
    public static let maxMovesPerMinuteRange = 1...10_000

    /// These settings with a rule's own block applied over them.
    public func applying(_ override: FailoverOverride?) -> FailoverSettings {
        guard let override else { return self }
        var result = self
        if let enabled = override.enabled { result.enabled = enabled }
        if let afterSeconds = override.afterSeconds { result.afterSeconds = afterSeconds }
        if let failback = override.failback { result.failback = failback }
        return result
    }
}

/// A rule's own `failover` block: what it says replaces the global setting for its namespaces.
public struct FailoverOverride: Sendable, Hashable {
    public var enabled: Bool?
    public var afterSeconds: Int?
    public var failback: Bool?

    public init(enabled: Bool? = nil, afterSeconds: Int? = nil, failback: Bool? = nil) {
        self.enabled = enabled
        self.afterSeconds = afterSeconds
        self.failback = failback
    }
}
