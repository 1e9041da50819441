import DispatchCore
import DispatchMetrics
import NIOCore
import NIOHTTP1

/// Serves one caller connection of the proxy: each request is checked, forwarded to its
/// function on a pooled upstream connection, and answered as the function answers.
///
/// Messages move as bytes: the head is parsed in place (`HTTPHead`), the function gets the
/// caller's end-to-end fields as they came, and bodies pass as they arrive, delimited by
/// `HTTPBodyFraming`, with backpressure both ways: the caller is not read while the function's
/// connection cannot take more, nor the function while the caller's cannot. Each call's course
/// is decided by `ProxyConnectionStateMachine`, which owns the call's `InvocationStateMachine`:
/// this handler reports each event to it and runs the action it gets back (`run(_:)`); it
/// holds only I/O (its channel, the call's upstream connection and meters, timers). Everything
/// happens on the connection's event loop.
final class InvocationForwarder: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The I/O side of one call in progress; its course is the state machine's.
    final class Call {
        let head: HTTPHead
        let target: ProxyTarget
        let record: FunctionRecord?
        let meters: DispatchMetrics.InvocationMeters
        var labels: DispatchMetrics.InvocationLabels { meters.labels }
        let started: ContinuousClock.Instant
        var clock: InvocationClock
        var key = UpstreamConnection.Key.unresolved
        var upstream: UpstreamConnection?
        var upstreamReused = false
        var code = 0
        var failure: UpstreamFailure?
        var recorded = false

        init(
            head: HTTPHead, target: ProxyTarget, record: FunctionRecord?, meters: DispatchMetrics.InvocationMeters, started: ContinuousClock.Instant,
            clock: InvocationClock
        ) {
            self.head = head
            self.target = target
            self.record = record
            self.meters = meters
            self.started = started
            self.clock = clock
        }
    }

    let proxy: InvocationProxy
    let resources: InvocationProxy.LoopResources
    var pool: UpstreamConnectionPool { resources.pool }
    var context: ChannelHandlerContext?
    var remote: String?
    /// The fields added to this caller's requests for the function host it called last.
    var addedFields: ProxyHeaders.AddedFields?
    var call: Call?
    var state: ProxyConnectionStateMachine
    /// Bytes for the caller, joined until the next flush.
    var outgoing = WriteCoalescer()
    let idleTimeout: TimeAmount
    var idleTimer: Scheduled<Void>?
    var callTimer: Scheduled<Void>?
    var callTimerAt: ContinuousClock.Instant?
    var lingerTimer: Scheduled<Void>?
    /// How long a closing connection waits for the caller to close (nginx: `lingering_timeout`).
    static let lingerTimeout = TimeAmount.seconds(2)

    init(proxy: InvocationProxy, resources: InvocationProxy.LoopResources, idleTimeout: TimeAmount) {
        self.proxy = proxy
        self.resources = resources
        self.idleTimeout = idleTimeout
        state = ProxyConnectionStateMachine(now: .now())
    }

    // MARK: Reading the caller

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        remote = context.channel.remoteAddress?.ipAddress
        // The loop's clock: NIODeadline.now() on a real loop, the virtual time of an embedded one.
        state = ProxyConnectionStateMachine(now: context.eventLoop.now)
        if context.channel.isActive { armIdleTimer() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.received(unwrapInboundIn(data)) else { return }
        handleInput()
        state.receivedHandled()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        call?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { call?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        run(state.readRequested(upstreamWritable: upstreamWritable))
    }

    /// Whether the call's upstream connection takes more of the request body now.
    private var upstreamWritable: Bool { call?.upstream?.isWritable ?? true }

    func resumeReadingCaller() {
        run(state.resumeReading(upstreamWritable: upstreamWritable))
    }

    /// Handles the bytes read, as far as the current call allows. A call that ends inside
    /// the loop lets the loop go on to the next request: requests never nest on the stack.
    func handleInput() {
        guard state.beginHandlingInput() else { return }
        while true {
            let action = state.nextInput()
            if case .none = action { break }
            run(action)
        }
        state.endHandlingInput()
    }

    // MARK: Running actions

    /// Carries out what the state machine decided.
    func run(_ action: ProxyConnectionStateMachine.Action) {
        switch action {
        case .none:
            return
        case .read:
            context?.read()
        case .startCall(let head):
            start(head)
        case .forwardBody(let buffer):
            guard let call else { return }
            call.upstream?.write(buffer)
            activity(call)
        case .forwardEnd(let flush):
            guard let call else { return }
            if flush { call.upstream?.flush() }
            activity(call)
        case .reconnect:
            guard let call else { return }
            closeUpstream(of: call)
            connect(call)
        case .refuse(let status, let text, let minorVersion, let includeBody):
            respond(status: status, text: text, minorVersion: minorVersion, close: true, includeBody: includeBody)
        case .failCall(let failure, let close):
            guard let call else { return }
            closeUpstream(of: call)
            failed(call, failure)
            respond(
                status: failure.status, text: "direktiv-dispatch: \(call.target.canonicalHost): \(failure.explanation)",
                minorVersion: call.head.minorVersion, close: close, includeBody: !call.head.methodIs("HEAD"))
            endCall()
        case .cutCall(let failure):
            guard let call else { return }
            closeUpstream(of: call)
            failed(call, failure)
            context?.close(promise: nil)
            endCall()
        case .abortCall(let error, let answered):
            guard let call else { return }
            closeUpstream(of: call)
            call.code = 400
            record(call)
            if answered {
                context?.close(promise: nil)
            } else {
                respond(
                    status: .badRequest, text: "direktiv-dispatch: \(error)", minorVersion: call.head.minorVersion, close: true, includeBody: true)
            }
            endCall()
        case .forwardResponseHead(let head, let close, let dechunk):
            guard let call, let context else { return }
            call.code = head.status
            var buffer = context.channel.allocator.buffer(capacity: head.bytes.readableBytes + 32 + WriteCoalescer.room(forBodyOf: head))
            ProxyHeaders.writeDownstreamHead(
                head, framing: .init(callerMinorVersion: call.head.minorVersion, close: close, dechunked: dechunk), into: &buffer)
            writeToCaller(buffer)
            activity(call)
        case .forwardResponseBody(let buffer):
            guard let call else { return }
            writeToCaller(buffer)
            activity(call)
        case .responseEnded(let reuseUpstream, let close, let callEnded):
            guard let call else { return }
            if let upstream = call.upstream {
                call.upstream = nil
                if reuseUpstream { pool.release(upstream) } else { upstream.close() }
            }
            record(call)
            responseEnded(close: close)
            activity(call)
            if callEnded { endCall() }
        case .callEnded:
            endCall()
        case .flushResponse:
            flushCaller()
            armIdleTimer()
        case .flushLastResponse:
            guard let context else { return }
            // Close once the answer is on the wire, not before: a close fails pending writes.
            let flushed = context.eventLoop.makePromise(of: Void.self)
            outgoing.flush(context, promise: flushed)
            flushed.futureResult.assumeIsolated().whenComplete { [self] result in
                switch result {
                case .success: run(state.lastResponseFlushed())
                case .failure: run(state.writeFailed())
                }
            }
        case .lingerThenClose:
            // See `ProxyConnectionStateMachine`: the caller may still be sending.
            guard let context else { return }
            context.close(mode: .output, promise: nil)
            lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTimeout) { [self] in
                lingerTimer = nil
                run(state.lingerTimeoutFired())
            }
            context.read()
        case .close:
            context?.close(promise: nil)
        case .callerLeft(let wasGoing):
            guard let call else { return }
            self.call = nil
            closeUpstream(of: call)
            if wasGoing {
                // nginx's convention for a caller that left before its answer.
                call.code = 499
                record(call)
            }
        }
    }

    // MARK: Starting a call

    private func start(_ head: HTTPHead) {
        let started = ContinuousClock.now
        let target: ProxyTarget
        do {
            target = try resources.targets.target(of: head, functionsNamespaces: proxy.functionsNamespaces)
        } catch {
            proxy.metrics.proxyRefused(reason: error.reason)
            return run(state.callRefused(.forbidden, "direktiv-dispatch refused the request: \(error)", head: head))
        }
        let record = proxy.directory(target.namespace, target.function)
        let labels = DispatchMetrics.InvocationLabels(
            direktivNamespace: record?.identity.direktivNamespace ?? "unknown",
            function: record == nil ? "unknown" : target.function,
            cluster: record?.cluster ?? "unknown"
        )
        let meters = resources.meters(labels)
        meters.started()

        let configuration = InvocationStateMachine.Configuration(
            declaredLength: head.contentLength,
            hasBody: head.isChunked || (head.contentLength ?? 0) > 0,
            replayLimit: proxy.settings.replayLimit,
            drainLimit: proxy.settings.earlyAnswerDrainLimit
        )
        let remaining = min(DirektivDeadline.remaining(in: head) ?? proxy.settings.defaultDeadline, proxy.settings.longestCall)
        let clock = InvocationClock(start: started, deadline: started + remaining, idleTimeout: proxy.settings.bodyIdleTimeout)
        let call = Call(head: head, target: target, record: record, meters: meters, started: started, clock: clock)
        self.call = call
        state.callStarted(configuration, keepAlive: head.isKeepAlive, minorVersion: head.minorVersion)

        guard case .address(let host, let port) = proxy.resolver.resolve(target) else {
            return run(state.upstreamFailed(.unresolvable, reusedConnection: false))
        }
        guard remaining > .zero else {
            return run(state.upstreamFailed(.deadline, reusedConnection: false))
        }
        call.key = UpstreamConnection.Key(host: host, port: port)

        if let expectation = head.value(.expect), ASCII.equalsIgnoringCase(expectation.utf8, "100-continue") {
            // The proxy answers the expectation itself: the body is streamed as it comes anyway.
            writeToCaller(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n"))
            flushCaller()
        }
        armCallTimer(for: call)
        connect(call)
    }

    func connect(_ call: Call) {
        if let connection = pool.lease(call.key) {
            attach(connection, to: call)
            return
        }
        pool.connect(call.key) { [self] result in
            guard self.call === call, state.callIsConnecting else {
                // The call ended while connecting; an unused connection is still worth keeping.
                if case .success(let connection) = result { pool.release(connection) }
                return
            }
            switch result {
            case .success(let connection):
                attach(connection, to: call)
            case .failure(let error):
                run(state.upstreamFailed(UpstreamFailure(error), reusedConnection: false))
            }
        }
    }

    private func attach(_ connection: UpstreamConnection, to call: Call) {
        guard let context, let pending = state.connected() else {
            pool.release(connection)
            return
        }
        call.upstream = connection
        call.upstreamReused = connection.calls > 0
        connection.calls += 1
        connection.begin(delegate: self, requestIsHEAD: call.head.methodIs("HEAD"))
        // Written per attempt (a retry sends it again), with room for a short body to join it.
        var upstreamHead = context.channel.allocator.buffer(
            capacity: call.head.bytes.readableBytes + 160 + WriteCoalescer.room(forBodyOf: call.head))
        let added: ProxyHeaders.AddedFields
        if let cached = addedFields, cached.host == call.target.host {
            added = cached
        } else {
            added = ProxyHeaders.AddedFields(host: call.target.host, client: remote)
            addedFields = added
        }
        ProxyHeaders.writeUpstreamHead(call.head, target: call.target, added: added, into: &upstreamHead)
        connection.write(upstreamHead)
        for buffer in pending.body { connection.write(buffer) }
        // Within a read of the caller, the rest of what it sent goes out with the same flush.
        if !state.inCallerRead { connection.flush() }
        activity(call)
        resumeReadingCaller()
    }
}
