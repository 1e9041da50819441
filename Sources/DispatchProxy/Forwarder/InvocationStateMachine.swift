import NIOCore

/// One proxied call between a caller and a function, as a state machine without I/O.
///
/// The request body goes upstream as it arrives and the answer comes back as it is produced.
/// While the upstream connection is being made, body bytes already read are held. A reused
/// keep-alive connection that closes before any answer (the function's server dropped it while
/// idle) is retried once on a fresh connection, provided the whole body sent so far is still
/// held (at most `replayLimit` bytes), and provided a second delivery does no harm: the method
/// is idempotent (RFC 9110 §9.2.2), or no byte of the request went out. A Direktiv action is a
/// POST that may move money; the function may have read it before its connection closed, so
/// such a call is answered 502 and Direktiv decides whether to call again, as nginx does.
///
/// A function may answer before the body is complete: a small rest (`drainLimit`) is then read
/// and dropped so the caller's connection stays usable; a larger rest ends the caller's
/// connection after the answer.
struct InvocationStateMachine: Sendable {
    struct Configuration: Sendable, Hashable {
        /// The request's `Content-Length`, when it has one.
        var declaredLength: Int64?
        /// Whether the request carries a body at all (a length above zero, or chunked).
        var hasBody: Bool
        var replayLimit: Int
        var drainLimit: Int64

        init(declaredLength: Int64?, hasBody: Bool, replayLimit: Int = 64 * 1024, drainLimit: Int64 = 64 * 1024) {
            self.declaredLength = declaredLength
            self.hasBody = hasBody
            self.replayLimit = replayLimit
            self.drainLimit = drainLimit
        }
    }

    enum State: Sendable, Hashable {
        /// Waiting for an upstream connection; body bytes read meanwhile are held.
        case connecting
        /// The request is upstream (or on its way); `responseStarted` once the answer's head came.
        case forwarding(responseStarted: Bool)
        /// The answer is complete but the caller is still sending a small rest, read and dropped.
        case draining
        case finished
    }

    /// What to do with a part of the caller's request.
    enum RequestAction: Sendable, Hashable {
        case none
        case forward(ByteBuffer)
        case forwardEnd
        /// The dropped rest is complete: the caller's connection is ready for its next request.
        case drained
    }

    /// What to send on a fresh upstream connection after the request head.
    struct Pending: Sendable, Hashable {
        var body: [ByteBuffer]
        /// The request is complete: its end follows.
        var end: Bool

        init(body: [ByteBuffer], end: Bool) {
            self.body = body
            self.end = end
        }
    }

    /// What the caller's connection does after the answer's end.
    enum CallerAfterAnswer: Sendable, Hashable {
        case keepAlive
        /// Keep it, once the rest of the request body is read and dropped.
        case drain
        /// Close it: the rest of the request body is too large to drop.
        case close
    }

    struct AnswerEnd: Sendable, Hashable {
        /// The upstream connection can serve another call (else it is closed).
        var reuseUpstream: Bool
        var caller: CallerAfterAnswer

        init(reuseUpstream: Bool, caller: CallerAfterAnswer) {
            self.reuseUpstream = reuseUpstream
            self.caller = caller
        }
    }

    /// How a failure ends the call.
    enum FailureAction: Sendable, Hashable {
        /// Nothing: the call had ended already.
        case none
        /// Make a new connection and send the request again (`connected()` hands out what to send).
        case retry
        /// Answer the caller with the failure's status; keep its connection when the whole request was read.
        case answer(UpstreamFailure, keepCaller: Bool)
        /// The answer's head has gone out already: cutting the caller's connection is the only signal left.
        case cut(UpstreamFailure)
    }

    let configuration: Configuration
    private(set) var state: State = .connecting
    /// Request body bytes read from the caller.
    private(set) var received: Int64 = 0
    private(set) var requestComplete: Bool
    /// The request's end has gone upstream (with its last body byte, or at once without a body).
    private var endForwarded = false
    private var pending: [ByteBuffer] = []
    /// Everything sent upstream so far, for one retry; `nil` once over the limit or retried.
    private var replay: [ByteBuffer]? = []
    private var replayBytes = 0

    init(_ configuration: Configuration) {
        self.configuration = configuration
        requestComplete = !configuration.hasBody
    }

    /// Which timers apply now (`InvocationClock`).
    var phase: InvocationClock.Phase {
        switch state {
        case .connecting, .forwarding(responseStarted: false): requestComplete ? .awaitingHead : .sendingBody
        case .forwarding(responseStarted: true): .receivingBody
        case .draining: .sendingBody
        case .finished: .finished
        }
    }

    /// Whether the caller's bytes are wanted now (upstream backpressure aside). While
    /// connecting they wait in the socket; once the request is complete the caller is still read,
    /// to notice it leaving.
    var readsCaller: Bool {
        switch state {
        case .connecting: false
        case .forwarding, .draining: true
        case .finished: false
        }
    }

    var isFinished: Bool { state == .finished }

    var isDraining: Bool { state == .draining }

    mutating func requestBodyReceived(_ buffer: ByteBuffer) -> RequestAction {
        received += Int64(buffer.readableBytes)
        if let length = configuration.declaredLength, received >= length { requestComplete = true }
        switch state {
        case .connecting:
            pending.append(buffer)
            return .none
        case .forwarding:
            remember(buffer)
            return .forward(buffer)
        case .draining, .finished:
            return .none
        }
    }

    mutating func requestEndReceived() -> RequestAction {
        requestComplete = true
        switch state {
        case .connecting:
            return .none
        case .forwarding:
            if endForwarded { return .none }
            endForwarded = true
            return .forwardEnd
        case .draining:
            state = .finished
            return .drained
        case .finished:
            return .none
        }
    }

    /// The upstream connection is ready: the head goes out, then what was held.
    mutating func connected() -> Pending {
        precondition(state == .connecting, "connected while \(state)")
        state = .forwarding(responseStarted: false)
        let body = pending
        pending = []
        for buffer in body { remember(buffer) }
        endForwarded = requestComplete
        return Pending(body: body, end: requestComplete)
    }

    /// `false` when the call has ended already and the head is to be ignored.
    mutating func responseHeadReceived() -> Bool {
        guard case .forwarding = state else { return false }
        state = .forwarding(responseStarted: true)
        replay = nil
        return true
    }

    /// `false` when the call has ended already.
    var forwardsResponse: Bool {
        state == .forwarding(responseStarted: true)
    }

    /// The answer is complete. `upstreamKeepAlive`: the function's connection said it may serve again.
    mutating func responseEndReceived(upstreamKeepAlive: Bool) -> AnswerEnd? {
        guard state == .forwarding(responseStarted: true) else { return nil }
        if requestComplete {
            state = .finished
            return AnswerEnd(reuseUpstream: upstreamKeepAlive, caller: .keepAlive)
        }
        // The function did not wait for the whole body: its connection is mid-request, unusable.
        if let length = configuration.declaredLength, length - received <= configuration.drainLimit {
            state = .draining
            return AnswerEnd(reuseUpstream: false, caller: .drain)
        }
        state = .finished
        return AnswerEnd(reuseUpstream: false, caller: .close)
    }

    /// The upstream connection failed or closed. `reusedConnection`: it had served calls before;
    /// `requestSent`: bytes of this request were flushed to it (the function may have read them);
    /// `idempotent`: the request's method is idempotent. Asked only on failure, so calls that
    /// succeed never classify their method.
    mutating func upstreamFailed(
        _ failure: UpstreamFailure, reusedConnection: Bool, requestSent: Bool = true, idempotent: Bool = false
    ) -> FailureAction {
        switch state {
        case .connecting, .forwarding(responseStarted: false):
            if case .forwarding = state, reusedConnection, failure == .upstreamClosed, idempotent || !requestSent, let replay {
                // A keep-alive connection closed under the request: nothing was processed.
                self.replay = nil
                replayBytes = 0
                pending = replay + pending
                endForwarded = false
                state = .connecting
                return .retry
            }
            state = .finished
            return .answer(failure, keepCaller: requestComplete)
        case .forwarding(responseStarted: true):
            state = .finished
            return .cut(failure)
        case .draining, .finished:
            return .none
        }
    }

    /// A timer expired (deadline or idle timeout): never retried.
    mutating func expired(_ failure: UpstreamFailure) -> FailureAction {
        switch state {
        case .connecting, .forwarding(responseStarted: false):
            state = .finished
            return .answer(failure, keepCaller: false)
        case .forwarding(responseStarted: true):
            state = .finished
            return .cut(failure)
        case .draining:
            // The answer is out; the caller stopped sending the rest.
            state = .finished
            return .none
        case .finished:
            return .none
        }
    }

    /// The caller's connection closed. `true` when the call was still going (it counts as 499).
    mutating func callerLeft() -> Bool {
        switch state {
        case .connecting, .forwarding:
            state = .finished
            return true
        case .draining:
            state = .finished
            return false
        case .finished:
            return false
        }
    }

    private mutating func remember(_ buffer: ByteBuffer) {
        guard replay != nil else { return }
        replayBytes += buffer.readableBytes
        if replayBytes > configuration.replayLimit {
            replay = nil
        } else {
            replay!.append(buffer)
        }
    }
}
