import DispatchCore
import NIOCore
import NIOHTTP1

/// Serves one caller connection of the proxy: each request is checked, forwarded to its
/// function on a pooled upstream connection, and answered as the function answers.
///
/// Everything happens on the connection's event loop. Bodies stream both ways with
/// backpressure: the caller is not read while the function's connection cannot take more, and
/// the function is not read while the caller's cannot. Each call's course is decided by its
/// `InvocationStateMachine`; this handler carries out what it says and keeps the timers
/// (`InvocationClock`) with one lazily re-armed timer per connection.
final class InvocationForwarder: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// One call in progress.
    final class Call {
        let head: HTTPRequestHead
        let target: ProxyTarget
        let record: FunctionRecord?
        let meters: DispatchMetrics.InvocationMeters
        var labels: DispatchMetrics.InvocationLabels { meters.labels }
        let started: ContinuousClock.Instant
        var machine: InvocationStateMachine
        var clock: InvocationClock
        var key = UpstreamConnection.Key(host: "", port: 0)
        var upstreamHead: HTTPRequestHead?
        var upstream: UpstreamConnection?
        var upstreamReused = false
        var upstreamKeepAlive = true
        /// The caller's connection ends with this answer.
        var closesCaller: Bool
        var code = 0
        var failure: UpstreamFailure?
        var recorded = false

        init(head: HTTPRequestHead, target: ProxyTarget, record: FunctionRecord?, meters: DispatchMetrics.InvocationMeters, started: ContinuousClock.Instant, machine: InvocationStateMachine, clock: InvocationClock) {
            self.head = head
            self.target = target
            self.record = record
            self.meters = meters
            self.started = started
            self.machine = machine
            self.clock = clock
            closesCaller = !head.isKeepAlive
        }
    }

    private let proxy: InvocationProxy
    private let resources: InvocationProxy.LoopResources
    private var pool: UpstreamConnectionPool { resources.pool }
    private var context: ChannelHandlerContext?
    private var remote: String?
    private var call: Call?
    /// Between a request's head and its end, as read from the caller.
    private var requestOpen = false
    /// Parts of pipelined requests, read while a call was still going.
    private var queued = CircularBuffer<HTTPServerRequestPart>()
    /// The connection ends with the current answer: nothing more is read.
    private var stopped = false
    private var readPending = false
    private var needsFlush = false
    /// Inside `channelRead`: writes upstream are flushed once, when the read completes.
    private var inCallerRead = false
    private var timer: Scheduled<Void>?
    private var timerAt: ContinuousClock.Instant?

    init(proxy: InvocationProxy, resources: InvocationProxy.LoopResources) {
        self.proxy = proxy
        self.resources = resources
    }

    // MARK: Caller side

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        remote = context.channel.remoteAddress?.ipAddress
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if stopped { return }
        let part = unwrapInboundIn(data)
        if !queued.isEmpty || (call != nil && !requestOpen) {
            // A pipelined request: it waits until the current answer is out.
            queued.append(part)
            return
        }
        inCallerRead = true
        handle(part)
        inCallerRead = false
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        call?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { call?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopped = true
        timer?.cancel()
        timer = nil
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

    func read(context: ChannelHandlerContext) {
        if readsCaller {
            readPending = false
            context.read()
        } else {
            readPending = true
        }
    }

    private var readsCaller: Bool {
        if stopped || !queued.isEmpty { return false }
        guard let call else { return true }
        guard call.machine.readsCaller else { return false }
        // Backpressure: the body waits in the caller's socket while the function's is full.
        if requestOpen, !call.machine.isDraining, let upstream = call.upstream, !upstream.isWritable { return false }
        return true
    }

    private func resumeReadingCaller() {
        guard readPending, readsCaller, let context else { return }
        readPending = false
        context.read()
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            requestOpen = true
            start(head)
        case .body(let buffer):
            guard let call else { return }
            apply(call.machine.requestBodyReceived(buffer), call)
        case .end:
            requestOpen = false
            guard let call else { return }
            apply(call.machine.requestEndReceived(), call)
        }
    }

    private func apply(_ action: InvocationStateMachine.RequestAction, _ call: Call) {
        switch action {
        case .none:
            break
        case .forward(let buffer):
            call.upstream?.write(.body(.byteBuffer(buffer)))
            activity(call)
        case .forwardEnd:
            call.upstream?.write(.end(nil))
            if !inCallerRead { call.upstream?.flush() }
            activity(call)
        case .drained:
            ended(call)
        }
    }

    // MARK: Starting a call

    private func start(_ head: HTTPRequestHead) {
        let started = ContinuousClock.now
        let target: ProxyTarget
        do {
            target = try ProxyTarget.resolve(method: head.method.rawValue, target: head.uri, functionsNamespaces: proxy.functionsNamespaces())
        } catch {
            proxy.metrics.proxyRefused(error)
            stopped = true
            respond(to: head, status: .forbidden, text: "direktiv-dispatch refused the request: \(error)", close: true)
            return
        }
        let record = proxy.directory(target.namespace, target.function)
        let labels = DispatchMetrics.InvocationLabels(
            direktivNamespace: record?.identity.direktivNamespace ?? "unknown",
            function: record == nil ? "unknown" : target.function,
            cluster: record?.cluster ?? "unknown"
        )
        let meters = resources.meters(labels)
        meters.started()

        let declaredLength = head.headers.first(name: "content-length").flatMap(Int64.init)
        let chunked = head.headers.contains(name: "transfer-encoding")
        let configuration = InvocationStateMachine.Configuration(
            declaredLength: declaredLength,
            hasBody: chunked || (declaredLength ?? 0) > 0,
            replayLimit: proxy.settings.replayLimit,
            drainLimit: proxy.settings.earlyAnswerDrainLimit
        )
        let remaining = DirektivDeadline.remaining(head.headers.first(name: "direktiv-deadline")) ?? proxy.settings.defaultDeadline
        let clock = InvocationClock(start: started, deadline: started + remaining, idleTimeout: proxy.settings.bodyIdleTimeout)
        let call = Call(head: head, target: target, record: record, meters: meters, started: started, machine: InvocationStateMachine(configuration), clock: clock)
        self.call = call

        guard case .address(let host, let port) = proxy.resolver.resolve(target) else {
            return fail(call, call.machine.upstreamFailed(.unresolvable, reusedConnection: false))
        }
        guard remaining > .zero else {
            return fail(call, call.machine.upstreamFailed(.deadline, reusedConnection: false))
        }
        call.key = UpstreamConnection.Key(host: host, port: port)

        var headers = ProxyHeaders.upstream(head.headers, host: target.host, client: remote)
        if let declaredLength {
            headers.add(name: "Content-Length", value: String(declaredLength))
        } else if chunked {
            // A chunked body stays chunked: Direktiv's sidecar refuses those, and says so.
            headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        call.upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: target.pathAndQuery, headers: headers)

        if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
            // The proxy answers the expectation itself: the body is streamed as it comes anyway.
            context?.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        armTimer(for: call)
        connect(call)
    }

    private func connect(_ call: Call) {
        if let connection = pool.lease(call.key) {
            attach(connection, to: call)
            return
        }
        pool.connect(call.key) { [self] result in
            guard self.call === call, call.machine.state == .connecting else {
                // The call ended while connecting; an unused connection is still worth keeping.
                if case .success(let connection) = result { pool.release(connection) }
                return
            }
            switch result {
            case .success(let connection):
                attach(connection, to: call)
            case .failure(let error):
                fail(call, call.machine.upstreamFailed(UpstreamFailure(error), reusedConnection: false))
            }
        }
    }

    private func attach(_ connection: UpstreamConnection, to call: Call) {
        call.upstream = connection
        call.upstreamReused = connection.calls > 0
        connection.calls += 1
        connection.delegate = self
        let pending = call.machine.connected()
        if let head = call.upstreamHead { connection.write(.head(head)) }
        for buffer in pending.body { connection.write(.body(.byteBuffer(buffer))) }
        if pending.end { connection.write(.end(nil)) }
        // Within a read of the caller, the rest of what it sent goes out with the same flush.
        if !inCallerRead { connection.flush() }
        activity(call)
        resumeReadingCaller()
    }

    // MARK: Ending a call

    /// Carries out a failure the state machine decided on.
    private func fail(_ call: Call, _ action: InvocationStateMachine.FailureAction) {
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
            respond(to: call.head, status: failure.status, text: "direktiv-dispatch: \(call.target.canonicalHost): \(failure.explanation)", close: close)
        case .cut(let failure):
            closeUpstream(of: call)
            failed(call, failure)
            stopped = true
            context?.close(promise: nil)
        }
        record(call)
        ended(call)
    }

    private func failed(_ call: Call, _ failure: UpstreamFailure) {
        call.failure = failure
        call.code = Int(failure.status.code)
        proxy.metrics.upstreamError(cluster: call.labels.cluster, reason: failure)
    }

    private func record(_ call: Call) {
        guard !call.recorded else { return }
        call.recorded = true
        proxy.finished(call)
    }

    /// The call is over: the next request on the connection may begin.
    private func ended(_ call: Call) {
        guard self.call === call else { return }
        self.call = nil
        while !stopped, let part = queued.first, self.call == nil || requestOpen {
            queued.removeFirst()
            handle(part)
        }
        resumeReadingCaller()
    }

    private func closeUpstream(of call: Call) {
        guard let upstream = call.upstream else { return }
        call.upstream = nil
        upstream.close()
    }

    private func respond(to request: HTTPRequestHead, status: HTTPResponseStatus, text: String, close: Bool) {
        guard let context else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(text.utf8.count + 1))
        if close {
            headers.add(name: "Connection", value: "close")
            context.triggerUserOutboundEvent(ProxyConnectionHandler.CloseAfterResponse(), promise: nil)
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text + "\n")))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    // MARK: Timers

    /// Bytes moved or the call changed phase: the idle timeout starts again.
    private func activity(_ call: Call) {
        let phase = call.machine.phase
        let changed = phase != call.clock.phase
        call.clock.activity(at: .now, phase: phase)
        if changed { armTimer(for: call) }
    }

    /// Makes sure a check runs no later than the call's next deadline; a check that comes
    /// earlier than needed just re-arms, so most calls never touch the timer.
    private func armTimer(for current: Call) {
        guard let context else { return }
        let next = current.clock.nextCheck()
        if let timerAt, timerAt <= next { return }
        timer?.cancel()
        timerAt = next
        let delay = ContinuousClock.now.duration(to: next)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(0, delay.nanoseconds))) { [self] in
            timer = nil
            timerAt = nil
            guard let call else { return }
            guard let failure = call.clock.expired(at: .now) else { return armTimer(for: call) }
            if call.machine.isDraining {
                // The answer is out; the caller stopped sending the rest it owes.
                _ = call.machine.expired(failure)
                stopped = true
                self.call = nil
                context.close(promise: nil)
            } else {
                fail(call, call.machine.expired(failure))
            }
        }
    }
}

// MARK: Function side

extension InvocationForwarder: UpstreamConnectionDelegate {
    func upstream(received part: HTTPClientResponsePart) {
        guard let call, let context else { return }
        switch part {
        case .head(let head):
            // Informational answers stay here: the proxy answered `Expect` itself.
            if head.status.code < 200 { return }
            guard call.machine.responseHeadReceived() else { return }
            call.code = Int(head.status.code)
            call.upstreamKeepAlive = head.isKeepAlive
            var headers = ProxyHeaders.downstream(head.headers)
            // An HTTP/1.0 caller learns where an unframed answer ends only from the close.
            if call.head.version.major == 1, call.head.version.minor == 0, !headers.contains(name: "content-length") { call.closesCaller = true }
            if call.closesCaller { headers.replaceOrAdd(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: call.head.version, status: head.status, headers: headers))), promise: nil)
            needsFlush = true
            activity(call)
        case .body(let buffer):
            guard call.machine.forwardsResponse else { return }
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            needsFlush = true
            activity(call)
        case .end(let trailers):
            guard let end = call.machine.responseEndReceived(upstreamKeepAlive: call.upstreamKeepAlive) else { return }
            if let upstream = call.upstream {
                call.upstream = nil
                if end.reuseUpstream { pool.release(upstream) } else { upstream.close() }
            }
            if end.caller == .close || call.closesCaller {
                stopped = true
                context.triggerUserOutboundEvent(ProxyConnectionHandler.CloseAfterResponse(), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
            needsFlush = false
            activity(call)
            record(call)
            if call.machine.isFinished { ended(call) }
        }
    }

    func upstreamReadComplete() {
        guard needsFlush else { return }
        needsFlush = false
        context?.flush()
    }

    func upstreamBecameWritable() {
        resumeReadingCaller()
    }

    func upstreamClosed(error: (any Error)?) {
        guard let call else { return }
        call.upstream = nil
        fail(call, call.machine.upstreamFailed(error.map(UpstreamFailure.init) ?? .upstreamClosed, reusedConnection: call.upstreamReused))
    }

    var upstreamMayRead: Bool {
        context?.channel.isWritable ?? false
    }
}
