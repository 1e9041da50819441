import NIOCore
import NIOHTTP1

/// One caller connection of the proxy as a state machine without I/O: where the caller's bytes
/// are in their message, the call in progress (its `InvocationStateMachine`), when the caller
/// is read, and when the connection closes.
///
/// `InvocationForwarder` reports each event and carries out the one `Action` it gets back
/// (`let action = state.event(); run(action)`), as AsyncHTTPClient's connection handlers do; it
/// holds only I/O: its channel, the call's upstream connection and meters, timers.
///
/// Requests are read one at a time: a pipelined request waits, unparsed, until the current
/// call has ended. A connection is idle between requests and busy from a request's head until
/// its response's end. It closes when idle too long, when the server shuts down (at once if
/// idle, else after the response, which then says `Connection: close`), when the caller closes
/// its side (HTTP/1.1 callers do not half-close while they wait for an answer, so that means
/// they left), and after a response that came before the whole request body did.
///
/// A close after a response lingers: the caller may still be sending (the body the function did
/// not wait for, a pipelined request), and closing a socket with unread bytes makes the kernel
/// reset it, which can destroy the response before the caller reads it. So the connection
/// half-closes, drops what still comes, and closes when the caller closes its side or the
/// linger timeout fires.
struct ProxyConnectionStateMachine {
    /// Longest request head accepted (nginx's default buffers hold 32 KiB).
    static let maximumHeadBytes = 64 * 1024

    /// What the handler does next.
    enum Action {
        case none
        /// Ask the caller's channel for more bytes.
        case read
        /// A request head is complete: find its function, then report `callStarted` (or
        /// `callRefused`).
        case startCall(HTTPHead)
        /// Send part of the request body upstream.
        case forwardBody(ByteBuffer)
        /// The request's end has gone upstream with its last bytes: flush unless a read of the
        /// caller is under way (its end flushes).
        case forwardEnd(flush: Bool)
        /// The upstream connection closed under a request that may be sent again: connect anew.
        case reconnect
        /// The proxy answers a request it did not forward; the connection ends after it.
        case refuse(HTTPResponseStatus, String, minorVersion: Int, includeBody: Bool)
        /// The call failed before its answer began: count it, answer with the failure's status,
        /// and end the call (`close`: the caller's connection ends with this answer).
        case failCall(UpstreamFailure, close: Bool)
        /// The call failed after its answer's head went out: count it and cut the connection,
        /// the only signal left.
        case cutCall(UpstreamFailure)
        /// The caller's request body broke its framing: count the call as 400, and answer it
        /// unless its answer has begun (then the connection is cut).
        case abortCall(HTTPBodyFraming.FramingError, answered: Bool)
        /// Write the answer's head to the caller; `close`: it says `Connection: close`.
        case forwardResponseHead(HTTPHead, close: Bool, dechunk: Bool)
        case forwardResponseBody(ByteBuffer)
        /// The answer is complete: give the upstream connection back (or close it), count the
        /// call, then report `responseEndWritten`. `callEnded`: the next request may begin.
        case responseEnded(reuseUpstream: Bool, close: Bool, callEnded: Bool)
        /// The call is over: the next request may begin.
        case callEnded
        /// Flush the answer's end; the connection carries on.
        case flushResponse
        /// Flush the last answer, then report `lastResponseFlushed`.
        case flushLastResponse
        /// Half-close, drop the caller's bytes, and report `inputClosed` or `lingerTimeoutFired`.
        case lingerThenClose
        case close
        /// The caller's connection closed: close the call's upstream connection; `wasGoing`:
        /// the call had not been answered (it counts as 499).
        case callerLeft(wasGoing: Bool)
    }

    /// Where the caller's bytes are in its current message.
    private enum Reading {
        /// Looking for the end of a head; `searched` bytes of `input` were looked at already.
        case head(searched: Int)
        case body(HTTPBodyFraming)
    }

    private enum Lifecycle: Hashable {
        case open
        /// The last response is on its way out; nothing may close the connection under it.
        case flushingLastResponse(inputClosed: Bool)
        case lingering
        case closed
    }

    /// The call in progress.
    private struct Call {
        var machine: InvocationStateMachine
        /// The caller's connection ends with this answer.
        var closesCaller: Bool
        let minorVersion: Int
    }

    private var lifecycle = Lifecycle.open
    /// Nothing more is read from the caller: the connection ends with the current answer.
    private(set) var stopped = false
    /// Requests read whose response has not ended yet.
    private var outstanding = 0
    private var quiescing = false
    private var closeRequested = false
    private var reading = Reading.head(searched: 0)
    /// Bytes read from the caller and not handled yet: a head in pieces, or the next request.
    private var input: ByteBuffer?
    /// The request just read has all its body: its end is handled next.
    private var requestEndDue = false
    private var call: Call?
    /// The channel asked for a read that backpressure held back.
    private var readPending = false
    /// Inside a read of the caller: bytes for upstream are flushed once, when it completes.
    private(set) var inCallerRead = false
    /// Inside `nextInput` loops: a call ending within one does not start another loop.
    private var handlingInput = false
    /// Since when the connection has had no request in progress.
    private(set) var idleSince: NIODeadline

    init(now: NIODeadline) {
        idleSince = now
    }

    var isIdle: Bool { outstanding == 0 }

    /// The last response is out and the caller's remaining bytes are read only to be dropped.
    var isLingering: Bool { lifecycle == .lingering }

    /// Whether an answer's head written now must carry `Connection: close`.
    var closesAfterResponse: Bool { quiescing }

    /// Whether the current answer goes to the caller (its call has not ended).
    var forwardsResponse: Bool { call?.machine.forwardsResponse ?? false }

    /// Which timers apply to the current call.
    var callPhase: InvocationClock.Phase { call?.machine.phase ?? .finished }

    var callIsConnecting: Bool { call?.machine.state == .connecting }

    var callIsDraining: Bool { call?.machine.isDraining ?? false }

    // MARK: Reading the caller

    /// The channel asks to read. `upstreamWritable`: the call's upstream connection can take more
    /// (asked only while a body is being forwarded).
    mutating func readRequested(upstreamWritable: @autoclosure () -> Bool) -> Action {
        if readsCaller(upstreamWritable: upstreamWritable) || lifecycle == .lingering {
            readPending = false
            return .read
        }
        readPending = true
        return .none
    }

    /// Something that held reading back may have changed: the read held back goes ahead if it may.
    mutating func resumeReading(upstreamWritable: @autoclosure () -> Bool) -> Action {
        guard readPending, readsCaller(upstreamWritable: upstreamWritable) else { return .none }
        readPending = false
        return .read
    }

    private func readsCaller(upstreamWritable: () -> Bool) -> Bool {
        if stopped { return false }
        guard let call else { return true }
        // A pipelined request waits in `input` until the current answer is out.
        if case .head = reading, let input, input.readableBytes > 0 { return false }
        guard call.machine.readsCaller else { return false }
        // Backpressure: the body waits in the caller's socket while the function's is full.
        if case .body = reading, !call.machine.isDraining, !upstreamWritable() { return false }
        return true
    }

    /// Bytes came from the caller. `false`: they are dropped (the connection is ending).
    mutating func received(_ bytes: ByteBuffer) -> Bool {
        if stopped { return false }
        var bytes = bytes
        if var held = input, held.readableBytes > 0 {
            input = nil
            held.writeBuffer(&bytes)
            input = held
        } else {
            input = bytes
        }
        inCallerRead = true
        return true
    }

    /// The bytes of a read are handled.
    mutating func receivedHandled() {
        inCallerRead = false
    }

    /// Starts handling the input; `false` when a loop handling it is under way already (a call
    /// ending inside it), so the input is handled by that loop and calls never nest.
    mutating func beginHandlingInput() -> Bool {
        if handlingInput { return false }
        handlingInput = true
        return true
    }

    mutating func endHandlingInput() {
        handlingInput = false
    }

    /// The next step for the bytes read, as far as the current call allows; `.none` when
    /// nothing more can be done with them now.
    mutating func nextInput() -> Action {
        while !stopped {
            if requestEndDue {
                requestEndDue = false
                guard call != nil else { continue }
                let action = requestEnded()
                if case .none = action { continue }
                return action
            }
            guard var bytes = input, bytes.readableBytes > 0 else { return .none }
            switch reading {
            case .head(let searched):
                // The next request waits until the current call has ended.
                if call != nil { return .none }
                let end: Int
                switch HTTPHead.scan(bytes, searchedBytes: searched, limit: Self.maximumHeadBytes) {
                case .complete(let found):
                    end = found
                case .incomplete(let searched):
                    reading = .head(searched: searched)
                    return .none
                case .tooLarge:
                    return refuse(.init(statusCode: 431), "direktiv-dispatch: the request head exceeds \(Self.maximumHeadBytes) bytes")
                case .bareLineFeed:
                    return refuse(.badRequest, "direktiv-dispatch: malformed message head: LF without CR")
                }
                guard let headBytes = bytes.readSlice(length: end) else {
                    return refuse(.badRequest, "direktiv-dispatch: malformed message head")
                }
                input = bytes
                reading = .head(searched: 0)
                let head: HTTPHead
                do {
                    head = try HTTPHead(parsing: headBytes, kind: .request)
                } catch {
                    return refuse(Self.status(for: error), "direktiv-dispatch: \(error)")
                }
                outstanding += 1
                let framing = HTTPBodyFraming(head: head)
                if framing.isComplete {
                    requestEndDue = true
                } else {
                    reading = .body(framing)
                }
                return .startCall(head)
            case .body(var framing):
                let consumed: HTTPBodyFraming.Consumed
                do {
                    consumed = try framing.consume(&bytes)
                } catch {
                    input = nil
                    return bodyFramingFailed(error)
                }
                input = bytes.readableBytes > 0 ? bytes : nil
                if consumed.ended {
                    reading = .head(searched: 0)
                    requestEndDue = true
                } else {
                    reading = .body(framing)
                }
                guard consumed.message.readableBytes > 0, var call else { continue }
                self.call = nil
                let action = call.machine.requestBodyReceived(consumed.message)
                self.call = call
                if case .forward(let buffer) = action { return .forwardBody(buffer) }
            }
        }
        return .none
    }

    /// The current request's body has all been read.
    private mutating func requestEnded() -> Action {
        guard var call else { return .none }
        self.call = nil
        let action = call.machine.requestEndReceived()
        switch action {
        case .none, .forward:
            self.call = call
            return .none
        case .forwardEnd:
            self.call = call
            return .forwardEnd(flush: !inCallerRead)
        case .drained:
            return .callEnded
        }
    }

    static func status(for error: HTTPHead.ParseError) -> HTTPResponseStatus {
        switch error {
        case .malformed, .conflictingFraming, .framingFieldNamedByConnection: .badRequest
        case .unsupportedVersion: .httpVersionNotSupported
        case .unsupportedTransferCoding: .notImplemented
        }
    }

    /// A request the proxy does not forward: the connection ends with its answer.
    private mutating func refuse(_ status: HTTPResponseStatus, _ text: String, minorVersion: Int = 1, includeBody: Bool = true) -> Action {
        stopped = true
        input = nil
        return .refuse(status, text, minorVersion: minorVersion, includeBody: includeBody)
    }

    /// A chunked request body broke its framing: the call cannot go on.
    private mutating func bodyFramingFailed(_ error: HTTPBodyFraming.FramingError) -> Action {
        guard var call else { return refuse(.badRequest, "direktiv-dispatch: \(error)") }
        self.call = nil
        let answered = call.machine.forwardsResponse
        _ = call.machine.callerLeft()
        stopped = true
        return .abortCall(error, answered: answered)
    }

    // MARK: The call

    /// The head's function is found: the call begins, waiting for its upstream connection.
    mutating func callStarted(_ configuration: InvocationStateMachine.Configuration, keepAlive: Bool, minorVersion: Int) {
        call = Call(machine: InvocationStateMachine(configuration), closesCaller: !keepAlive, minorVersion: minorVersion)
    }

    /// The head's function is not one the proxy may call.
    mutating func callRefused(_ status: HTTPResponseStatus, _ text: String, head: HTTPHead) -> Action {
        // Neither a HEAD nor a CONNECT answer has a body for the caller's parser.
        refuse(status, text, minorVersion: head.minorVersion, includeBody: !head.methodIs("HEAD") && !head.methodIs("CONNECT"))
    }

    /// The upstream connection is ready: the head goes out, then what was held.
    mutating func connected() -> InvocationStateMachine.Pending? {
        guard var call, call.machine.state == .connecting else { return nil }
        self.call = nil
        let pending = call.machine.connected()
        self.call = call
        return pending
    }

    /// The upstream connection failed or closed before the answer ended (see
    /// `InvocationStateMachine.upstreamFailed`).
    mutating func upstreamFailed(
        _ failure: UpstreamFailure, reusedConnection: Bool, requestSent: Bool = true, idempotent: Bool = false
    ) -> Action {
        guard var call else { return .none }
        self.call = nil
        let action = call.machine.upstreamFailed(failure, reusedConnection: reusedConnection, requestSent: requestSent, idempotent: idempotent)
        return failed(call, action)
    }

    /// The call's deadline or one of its idle timeouts passed.
    mutating func callExpired(_ failure: UpstreamFailure) -> Action {
        guard var call else { return .none }
        self.call = nil
        if call.machine.isDraining {
            // The answer is out; the caller stopped sending the rest it owes.
            _ = call.machine.expired(failure)
            stopped = true
            return closeNow()
        }
        return failed(call, call.machine.expired(failure))
    }

    private mutating func failed(_ call: Call, _ action: InvocationStateMachine.FailureAction) -> Action {
        switch action {
        case .none:
            // Nothing to fail: a call still draining its caller's rest goes on.
            if !call.machine.isFinished { self.call = call }
            return .none
        case .retry:
            self.call = call
            return .reconnect
        case .answer(let failure, let keepCaller):
            let close = !keepCaller || call.closesCaller
            if close { stopped = true }
            return .failCall(failure, close: close)
        case .cut(let failure):
            stopped = true
            return .cutCall(failure)
        }
    }

    /// The answer's head came. `untilClose`: its body ends when the upstream connection does.
    mutating func responseHeadReceived(_ head: HTTPHead, untilClose: Bool) -> Action {
        guard var call else { return .none }
        self.call = nil
        defer { self.call = call }
        guard call.machine.responseHeadReceived() else { return .none }
        // An HTTP/1.0 caller takes no chunks: it gets the data, and the close says where it ends.
        let dechunk = head.isChunked && call.minorVersion == 0
        if untilClose || dechunk || quiescing { call.closesCaller = true }
        return .forwardResponseHead(head, close: call.closesCaller, dechunk: dechunk)
    }

    mutating func responseBodyReceived(_ buffer: ByteBuffer) -> Action {
        forwardsResponse ? .forwardResponseBody(buffer) : .none
    }

    /// The answer is complete; `reusable`: the upstream connection may carry another call.
    mutating func responseEndReceived(reusable: Bool) -> Action {
        guard var call else { return .none }
        self.call = nil
        guard let end = call.machine.responseEndReceived(upstreamKeepAlive: reusable) else {
            self.call = call
            return .none
        }
        if end.caller == .close {
            // The rest of the request body is too large to read and drop.
            stopped = true
            call.closesCaller = true
        }
        let ended = call.machine.isFinished
        if !ended { self.call = call }
        return .responseEnded(reuseUpstream: end.reuseUpstream, close: call.closesCaller, callEnded: ended)
    }

    // MARK: Answers and closing

    /// An answer's last bytes are written. `close`: the connection ends after them; `now` is
    /// read only when the connection turns idle.
    mutating func responseEndWritten(close: Bool, now: @autoclosure () -> NIODeadline) -> Action {
        if close { closeRequested = true }
        outstanding = max(0, outstanding - 1)
        guard lifecycle == .open, closeRequested || (quiescing && isIdle) else {
            if isIdle { idleSince = now() }
            return .flushResponse
        }
        stopped = true
        lifecycle = .flushingLastResponse(inputClosed: false)
        return .flushLastResponse
    }

    mutating func lastResponseFlushed() -> Action {
        guard case .flushingLastResponse(let inputClosed) = lifecycle else { return .none }
        // A caller that closed its side already sends nothing more to drop.
        lifecycle = inputClosed ? .closed : .lingering
        if inputClosed { return .close }
        input = nil
        return .lingerThenClose
    }

    /// Graceful shutdown: an idle connection closes now, a busy one after its answer.
    mutating func shouldQuiesce() -> Action {
        quiescing = true
        return isIdle ? closeNow() : .none
    }

    /// The caller closed its side: it left, or it has read the last response.
    mutating func inputClosed() -> Action {
        if case .flushingLastResponse = lifecycle {
            lifecycle = .flushingLastResponse(inputClosed: true)
            return .none
        }
        return closeNow()
    }

    /// The idle timer fired; `.none` when the connection is busy or was not idle long enough.
    mutating func idleTimeoutFired(now: NIODeadline, timeout: TimeAmount) -> Action {
        guard isIdle, now - idleSince >= timeout else { return .none }
        return closeNow()
    }

    mutating func lingerTimeoutFired() -> Action {
        closeNow()
    }

    /// Writing to the caller failed.
    mutating func writeFailed() -> Action {
        stopped = true
        lifecycle = .closed
        return .close
    }

    /// The caller's connection closed.
    mutating func channelInactive() -> Action {
        stopped = true
        lifecycle = .closed
        input = nil
        guard var call else { return .callerLeft(wasGoing: false) }
        self.call = nil
        return .callerLeft(wasGoing: call.machine.callerLeft())
    }

    /// Closes now, unless the last response is still being flushed or the connection is closed.
    private mutating func closeNow() -> Action {
        switch lifecycle {
        case .open, .lingering:
            stopped = true
            lifecycle = .closed
            return .close
        case .flushingLastResponse, .closed:
            return .none
        }
    }
}
