/// When a proxy connection closes, as a state machine without I/O.
///
/// A connection is idle between requests and busy from a request's head until its response's
/// end. It closes when idle too long, when the server shuts down (at once if idle, else after
/// the response, which then says `Connection: close`), when the caller closes its side
/// (HTTP/1.1 callers do not half-close while they wait for an answer, so that means they left),
/// and after a response that came before the whole request body did.
public struct ProxyConnectionStateMachine: Sendable {
    public enum Action: Sendable, Hashable {
        case none
        case close
    }

    /// Requests read whose response has not ended yet (more than one when the caller pipelines).
    private var outstanding = 0
    private var quiescing = false
    private var closeRequested = false
    private var closed = false

    public init() {}

    public var isIdle: Bool { outstanding == 0 }

    /// Whether a response head written now must carry `Connection: close`.
    public var closesAfterResponse: Bool { quiescing }

    public mutating func requestHeadReceived() {
        outstanding += 1
    }

    public mutating func responseEndWritten() -> Action {
        outstanding = max(0, outstanding - 1)
        return closeRequested || (quiescing && isIdle) ? close() : .none
    }

    /// The rest of the request body will not be read: the connection ends with this response.
    public mutating func closeAfterResponse() {
        closeRequested = true
    }

    public mutating func shouldQuiesce() -> Action {
        quiescing = true
        return isIdle ? close() : .none
    }

    public mutating func inputClosed() -> Action {
        close()
    }

    public mutating func idleTimeoutFired() -> Action {
        isIdle ? close() : .none
    }

    private mutating func close() -> Action {
        if closed { return .none }
        closed = true
        return .close
    }
}
