import DispatchMetrics
import NIOCore
import NIOHTTP1

/// How calls and the caller's connection end: counting, the proxy's own answers, timers,
/// graceful shutdown, and the caller leaving.
extension InvocationForwarder {
    // MARK: Ending a call

    /// Counts the failure and the call, before the caller can see the answer.
    func failed(_ call: Call, _ failure: UpstreamFailure) {
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
    func endCall() {
        call = nil
        handleInput()
        resumeReadingCaller()
    }

    func closeUpstream(of call: Call) {
        guard let upstream = call.upstream else { return }
        call.upstream = nil
        upstream.close()
    }

    // MARK: The proxy's own answers

    func respond(status: HTTPResponseStatus, text: String, minorVersion: Int, close: Bool, includeBody: Bool) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 192 + text.utf8.count)
        ProxyHeaders.writeOwnResponse(
            status: status, text: text, minorVersion: minorVersion, close: close || state.closesAfterResponse, includeBody: includeBody,
            into: &buffer)
        writeToCaller(buffer)
        responseEnded(close: close)
    }

    /// An answer's last bytes are written: they go out now, and the connection ends after them
    /// when it must.
    func responseEnded(close: Bool) {
        guard let context else { return }
        run(state.responseEndWritten(close: close, now: context.eventLoop.now))
    }

    // MARK: Writing to the caller

    /// Writes `buffer` to the caller at the next flush (small buffers are joined, see `WriteCoalescer`).
    func writeToCaller(_ buffer: ByteBuffer) {
        guard let context else { return }
        outgoing.write(buffer, to: context)
    }

    func flushCaller() {
        guard let context else { return }
        outgoing.flush(context)
    }

    // MARK: The caller's connection

    func channelInactive(context: ChannelHandlerContext) {
        lingerTimer?.cancel()
        lingerTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
        callTimer?.cancel()
        callTimer = nil
        run(state.channelInactive())
        call = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            run(state.shouldQuiesce())
        case ChannelEvent.inputClosed:
            // The server allows half-closed connections, but an HTTP/1.1 caller does not
            // half-close while it waits for an answer: it left, and its call is cancelled.
            run(state.inputClosed())
            context.fireUserInboundEventTriggered(event)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// The idle timer is armed once and re-armed only when it fires early, so calls cost no
    /// timer operations.
    func armIdleTimer() {
        guard idleTimer == nil, let context else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: state.idleSince + idleTimeout) { [self] in
            idleTimer = nil
            // Busy: the timer is armed again when the answer ends.
            guard state.isIdle, let context = self.context else { return }
            let action = state.idleTimeoutFired(now: context.eventLoop.now, timeout: idleTimeout)
            if case .none = action {
                armIdleTimer()
            } else {
                run(action)
            }
        }
    }

    // MARK: Call timers

    /// Bytes moved or the call changed phase: the idle timeout starts again.
    func activity(_ call: Call) {
        let phase = state.callPhase
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
            let draining = state.callIsDraining
            run(state.callExpired(failure))
            // A draining call was counted with its answer: it just ends with the connection.
            if draining { self.call = nil }
        }
    }
}
