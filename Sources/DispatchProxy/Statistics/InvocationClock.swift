/// The timers of one proxied call, as a state machine without I/O.
///
/// A call has an overall deadline (`Direktiv-Deadline`, else the default) and an idle timeout
/// that applies only while bytes are expected: while the caller uploads the request body and
/// while the function streams its response. Waiting for the response head is the function
/// working, so only the deadline bounds it.
struct InvocationClock: Sendable {
    enum Phase: Sendable, Hashable {
        case sendingBody
        case awaitingHead
        case receivingBody
        case finished
    }

    private(set) var phase: Phase = .sendingBody
    let deadline: ContinuousClock.Instant
    let idleTimeout: Duration
    private var lastActivity: ContinuousClock.Instant

    init(start: ContinuousClock.Instant, deadline: ContinuousClock.Instant, idleTimeout: Duration) {
        self.deadline = deadline
        self.idleTimeout = idleTimeout
        lastActivity = start
    }

    /// Bytes moved, or the call moved on to its next phase.
    mutating func activity(at now: ContinuousClock.Instant, phase: Phase? = nil) {
        lastActivity = now
        if let phase { self.phase = phase }
    }

    /// Why the call must stop now, if it must.
    func expired(at now: ContinuousClock.Instant) -> UpstreamFailure? {
        if phase == .finished { return nil }
        if now >= deadline { return .deadline }
        if phase != .awaitingHead, now >= lastActivity + idleTimeout { return .idleTimeout }
        return nil
    }

    /// When to look again.
    func nextCheck() -> ContinuousClock.Instant {
        phase == .awaitingHead ? deadline : min(deadline, lastActivity + idleTimeout)
    }
}
