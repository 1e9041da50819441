import DispatchMetrics
import NIOCore
import NIOHTTP1

/// How calls and the caller's connection end: failures, the proxy's own answers, timers,
/// graceful shutdown, and the caller leaving.
extension InvocationForwarder {
    // MARK: Ending a call

    /// Carries out a failure the state machine decided on.
    func fail(_ call: Call, _ action: InvocationStateMachine.FailureAction) {
        switch action {
        case .none:
            return
        case .retry:
            closeUpstream(of: call)
            connect(call)
            return
        case .answer(let failure, let keepCaller):
            closeUpstream(of: call)
            failed(call, failure)
            let close = !keepCaller || call.closesCaller
            if close { stopped = true }
            respond(
                status: failure.status, text: "direktiv-dispatch: \(call.target.canonicalHost): \(failure.explanation)",
                minorVersion: call.head.minorVersion, close: close, includeBody: !call.head.methodIs("HEAD"))
        case .cut(let failure):
            closeUpstream(of: call)
            failed(call, failure)
            closeNow()
        }
        ended(call)
    }

    /// Counts the failure and the call, before the caller can see the answer.
    private func failed(_ call: Call, _ failure: UpstreamFailure) {
        call.failure = failure
        call.code = Int(failure.status.code)
        proxy.metrics.upstreamError(cluster: call.labels.cluster, reason: failure.reason)
        record(call)
    }

    /// Counts the call once; before its answer goes out, so that whoever saw the answer also
    /// sees it counted.
    func record(_ call: Call) {
        guard !call.recorded else { return }
        call.recorded = true
        proxy.finished(call)
    }

    /// The call is over: the next request on the connection may begin.
    func ended(_ call: Call) {
        guard self.call === call else { return }
        self.call = nil
        handleInput()
        resumeReadingCaller()
    }

    func closeUpstream(of call: Call) {
        guard let upstream = call.upstream else { return }
        call.upstream = nil
        upstream.close()
    }

    /// A chunked request body broke its framing: the call cannot go on.
    func bodyFramingFailed(_ error: HTTPBodyFraming.FramingError) {
        guard let call else {
            return refuse(.badRequest, "direktiv-dispatch: \(error)", minorVersion: 1)
        }
        let answered = call.machine.forwardsResponse
        _ = call.machine.callerLeft()
        closeUpstream(of: call)
        call.code = 400
        record(call)
        if answered {
            closeNow()
        } else {
            stopped = true
            respond(status: .badRequest, text: "direktiv-dispatch: \(error)", minorVersion: call.head.minorVersion, close: true, includeBody: true)
        }
        ended(call)
    }

    // MARK: The proxy's own answers

    /// Answers a request the proxy does not forward, and ends the connection.
    func refuse(_ status: HTTPResponseStatus, _ text: String, minorVersion: Int, head: HTTPHead? = nil) {
        stopped = true
        input = nil
        // Neither a HEAD nor a CONNECT answer has a body for the caller's parser.
        let includeBody = head.map { !$0.methodIs("HEAD") && !$0.methodIs("CONNECT") } ?? true
        respond(status: status, text: text, minorVersion: minorVersion, close: true, includeBody: includeBody)
    }

    func respond(status: HTTPResponseStatus, text: String, minorVersion: Int, close: Bool, includeBody: Bool) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 192 + text.utf8.count)
        ProxyHeaders.writeOwnResponse(
            status: status, text: text, minorVersion: minorVersion, close: close || connection.closesAfterResponse, includeBody: includeBody,
            into: &buffer)
        writeToCaller(buffer)
        responseEnded(close: close)
    }

    /// An answer's last bytes are written: they go out now, and the connection ends after them
    /// when it must.
    func responseEnded(close: Bool) {
        guard let context else { return }
        if close { connection.closeAfterResponse() }
        guard connection.responseEndWritten() == .closeAfterFlush else {
            flushCaller()
            if connection.isIdle { idleSince = context.eventLoop.now }
            armIdleTimer()
            return
        }
        stopped = true
        // Close once the answer is on the wire, not before: a close fails pending writes.
        let flushed = context.eventLoop.makePromise(of: Void.self)
        needsFlush = false
        let last = outgoing.take() ?? context.channel.allocator.buffer(capacity: 0)
        context.writeAndFlush(wrapOutboundOut(last), promise: flushed)
        flushed.futureResult.assumeIsolated().whenComplete { [self] result in
            guard case .success = result else { return closeNow() }
            perform(connection.lastResponseFlushed())
        }
    }

    /// Carries out what the connection's state machine decided.
    func perform(_ action: ProxyConnectionStateMachine.Action) {
        switch action {
        case .none, .closeAfterFlush:
            return
        case .close:
            closeNow()
        case .lingerThenClose:
            // See `ProxyConnectionStateMachine`: the caller may still be sending.
            guard let context else { return }
            input = nil
            context.close(mode: .output, promise: nil)
            lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTimeout) { [self] in
                lingerTimer = nil
                perform(connection.lingerTimeoutFired())
            }
            context.read()
        }
    }

    // MARK: Writing to the caller

    /// Writes `buffer` to the caller at the next flush (small buffers are joined, see `WriteCoalescer`).
    func writeToCaller(_ buffer: ByteBuffer) {
        guard let context else { return }
        needsFlush = true
        outgoing.write(buffer, to: context)
    }

    func flushCaller() {
        guard let context else { return }
        needsFlush = false
        outgoing.flush(context)
    }

    func closeNow() {
        stopped = true
        context?.close(promise: nil)
    }

    // MARK: The caller's connection

    func channelInactive(context: ChannelHandlerContext) {
        stopped = true
        lingerTimer?.cancel()
        lingerTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
        callTimer?.cancel()
        callTimer = nil
        if let call {
            let wasGoing = call.machine.callerLeft()
            closeUpstream(of: call)
            if wasGoing {
                // nginx's convention for a caller that left before its answer.
                call.code = 499
                record(call)
            }
            self.call = nil
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            // Graceful shutdown: an idle connection closes now, a busy one after its answer.
            perform(connection.shouldQuiesce())
        case ChannelEvent.inputClosed:
            // The server allows half-closed connections, but an HTTP/1.1 caller does not
            // half-close while it waits for an answer: it left, and its call is cancelled.
            perform(connection.inputClosed())
            context.fireUserInboundEventTriggered(event)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// The idle timer is armed once and re-armed only when it fires early, so calls cost no
    /// timer operations.
    func armIdleTimer() {
        guard idleTimer == nil, let context else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: idleSince + idleTimeout) { [self] in
            idleTimer = nil
            // Busy: the timer is armed again when the answer ends.
            guard connection.isIdle, self.context != nil else { return }
            if context.eventLoop.now - idleSince >= idleTimeout {
                perform(connection.idleTimeoutFired())
            } else {
                armIdleTimer()
            }
        }
    }

    // MARK: Call timers

    /// Bytes moved or the call changed phase: the idle timeout starts again.
    func activity(_ call: Call) {
        let phase = call.machine.phase
        let changed = phase != call.clock.phase
        call.clock.activity(at: .now, phase: phase)
        if changed { armCallTimer(for: call) }
    }

    /// Makes sure a check runs no later than the call's next deadline; a check that comes
    /// earlier than needed just re-arms, so most calls never touch the timer.
    func armCallTimer(for current: Call) {
        guard let context else { return }
        let next = current.clock.nextCheck()
        if let callTimerAt, callTimerAt <= next { return }
        callTimer?.cancel()
        callTimerAt = next
        let delay = ContinuousClock.now.duration(to: next)
        callTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(max(.zero, delay))) { [self] in
            callTimer = nil
            callTimerAt = nil
            guard let call else { return }
            guard let failure = call.clock.expired(at: .now) else { return armCallTimer(for: call) }
            if call.machine.isDraining {
                // The answer is out; the caller stopped sending the rest it owes.
                _ = call.machine.expired(failure)
                self.call = nil
                closeNow()
            } else {
                fail(call, call.machine.expired(failure))
            }
        }
    }
}
