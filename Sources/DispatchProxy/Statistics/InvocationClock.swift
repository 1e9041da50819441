/// The timers of one proxied call, as a state machine without I/O.
///
/// A call has an overall deadline (`Direktiv-Deadline`, else the default) and an idle timeout
/// that applies only while bytes are expected: while the caller uploads the request body and
/// while the function streams its response. Waiting for the response head is the function
/// working, so only the deadline bounds it.
public struct InvocationClock: Sendable {
    public enum Phase: Sendable, Hashable {
        case sendingBody
        case awaitingHead
        case receivingBody
        case finished
    }

    public private(set) var phase: Phase = .sendingBody
    public let deadline: ContinuousClock.Instant
    public let idleTimeout: Duration
    private var lastActivity: ContinuousClock.Instant

    public init(start: ContinuousClock.Instant, deadline: ContinuousClock.Instant, idleTimeout: Duration) {
        self.deadline = deadline
        self.idleTimeout = idleTimeout
        lastActivity = start
    }

    /// Bytes moved, or the call moved on to its next phase.
    public mutating func activity(at now: ContinuousClock.Instant, phase: Phase? = nil) {
        lastActivity = now
        if let phase { self.phase = phase }
    }

    /// Why the call must stop now, if it must.
    public func expired(at now: ContinuousClock.Instant) -> UpstreamFailure? {
        if phase == .finished { return nil }
        if now >= deadline { return .deadline }
        if phase != .awaitingHead, now >= lastActivity + idleTimeout { return .idleTimeout }
        return nil
    }

    /// When to look again.
    public func nextCheck() -> ContinuousClock.Instant {
        phase == .awaitingHead ? deadline : min(deadline, lastActivity + idleTimeout)
    }
}
