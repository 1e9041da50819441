/// When a proxy connection closes, as a state machine without I/O.
///
/// A connection is idle between requests and busy from a request's head until its response's
/// end. It closes when idle too long, when the server shuts down (at once if idle, else after
/// the response, which then says `Connection: close`), when the caller closes its side
/// (HTTP/1.1 callers do not half-close while they wait for an answer, so that means they left),
/// and after a response that came before the whole request body did.
///
/// A close after a response lingers: the caller may still be sending (the body the function did
/// not wait for, a pipelined request), and closing a socket with unread bytes makes the kernel
/// reset it, which can destroy the response before the caller reads it. So the connection
/// half-closes, drops what still comes, and closes when the caller closes its side or the
/// linger timeout fires.
struct ProxyConnectionStateMachine: Sendable {
    enum Action: Sendable, Hashable {
        case none
        case close
        /// The last response is written: flush it, then report `lastResponseFlushed`.
        case closeAfterFlush
        /// Half-close, drop the caller's bytes, and report `inputClosed` or `lingerTimeoutFired`.
        case lingerThenClose
    }

    private enum State: Sendable, Hashable {
        case open
        /// The last response is on its way out; nothing may close the connection under it.
        case flushingLastResponse(inputClosed: Bool)
        case lingering
        case closed
    }

    /// Requests read whose response has not ended yet (more than one when the caller pipelines).
    private var outstanding = 0
    private var quiescing = false
    private var closeRequested = false
    private var state = State.open

    init() {}

    var isIdle: Bool { outstanding == 0 }

    /// The last response is out and the caller's remaining bytes are read only to be dropped.
    var isLingering: Bool { state == .lingering }

    /// Whether a response head written now must carry `Connection: close`.
    var closesAfterResponse: Bool { quiescing }

    mutating func requestHeadReceived() {
        outstanding += 1
    }

    mutating func responseEndWritten() -> Action {
        outstanding = max(0, outstanding - 1)
        guard state == .open, closeRequested || (quiescing && isIdle) else { return .none }
        state = .flushingLastResponse(inputClosed: false)
        return .closeAfterFlush
    }

    mutating func lastResponseFlushed() -> Action {
        guard case .flushingLastResponse(let inputClosed) = state else { return .none }
        // A caller that closed its side already sends nothing more to drop.
        state = inputClosed ? .closed : .lingering
        return inputClosed ? .close : .lingerThenClose
    }

    /// The rest of the request body will not be read: the connection ends with this response.
    mutating func closeAfterResponse() {
        closeRequested = true
    }

    mutating func shouldQuiesce() -> Action {
        quiescing = true
        return isIdle ? close() : .none
    }

    /// The caller closed its side: it left, or it has read the last response.
    mutating func inputClosed() -> Action {
        if case .flushingLastResponse = state {
            state = .flushingLastResponse(inputClosed: true)
            return .none
        }
        return close()
    }

    mutating func idleTimeoutFired() -> Action {
        isIdle ? close() : .none
    }

    mutating func lingerTimeoutFired() -> Action {
        close()
    }

    /// Closes now, unless the last response is still being flushed or the connection is closed.
    private mutating func close() -> Action {
        switch state {
        case .open, .lingering:
            state = .closed
            return .close
        case .flushingLastResponse, .closed:
            return .none
        }
    }
}
