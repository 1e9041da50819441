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
/// is decided by its `InvocationStateMachine`; the connection's by `ProxyConnectionStateMachine`.
/// Everything happens on the connection's event loop.
final class InvocationForwarder: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// One call in progress.
    final class Call {
        let head: HTTPHead
        let target: ProxyTarget
        let record: FunctionRecord?
        let meters: DispatchMetrics.InvocationMeters
        var labels: DispatchMetrics.InvocationLabels { meters.labels }
        let started: ContinuousClock.Instant
        var machine: InvocationStateMachine
        var clock: InvocationClock
        var key = UpstreamConnection.Key.unresolved
        var upstream: UpstreamConnection?
        var upstreamReused = false
        /// The caller's connection ends with this answer.
        var closesCaller: Bool
        var code = 0
        var failure: UpstreamFailure?
        var recorded = false

        init(
            head: HTTPHead, target: ProxyTarget, record: FunctionRecord?, meters: DispatchMetrics.InvocationMeters, started: ContinuousClock.Instant,
            machine: InvocationStateMachine, clock: InvocationClock
        ) {
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

    /// Where the caller's bytes are in its current message.
    enum Reading {
        /// Looking for the end of a head; `searched` bytes of `input` were looked at already.
        case head(searched: Int)
        case body(HTTPBodyFraming)
    }

    /// Longest request head accepted (nginx's default buffers hold 32 KiB).
    static let maximumHeadBytes = 64 * 1024

    let proxy: InvocationProxy
    let resources: InvocationProxy.LoopResources
    var pool: UpstreamConnectionPool { resources.pool }
    var context: ChannelHandlerContext?
    var remote: String?
    /// The fields added to this caller's requests for the function host it called last.
    var addedFields: ProxyHeaders.AddedFields?
    var call: Call?
    var reading = Reading.head(searched: 0)
    /// Bytes read from the caller and not handled yet: a head in pieces, or the next request.
    var input: ByteBuffer?
    /// The connection ends with the current answer: nothing more is read.
    var stopped = false
    var readPending = false
    /// Bytes for the caller written at the next flush.
    var needsFlush = false
    var outgoing = WriteCoalescer()
    /// Inside `channelRead`: writes upstream are flushed once, when the read completes.
    var inCallerRead = false
    var connection = ProxyConnectionStateMachine()
    let idleTimeout: TimeAmount
    var idleTimer: Scheduled<Void>?
    var idleSince = NIODeadline.now()
    var callTimer: Scheduled<Void>?
    var callTimerAt: ContinuousClock.Instant?
    var lingerTimer: Scheduled<Void>?
    /// How long a closing connection waits for the caller to close (nginx: `lingering_timeout`).
    static let lingerTimeout = TimeAmount.seconds(2)

    init(proxy: InvocationProxy, resources: InvocationProxy.LoopResources, idleTimeout: TimeAmount) {
        self.proxy = proxy
        self.resources = resources
        self.idleTimeout = idleTimeout
    }

    // MARK: Reading the caller

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        remote = context.channel.remoteAddress?.ipAddress
        // The loop's clock: NIODeadline.now() on a real loop, the virtual time of an embedded one.
        idleSince = context.eventLoop.now
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
        if stopped { return }
        var bytes = unwrapInboundIn(data)
        if input == nil || input!.readableBytes == 0 {
            input = bytes
        } else {
            input!.writeBuffer(&bytes)
        }
        inCallerRead = true
        handleInput()
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

    func read(context: ChannelHandlerContext) {
        if readsCaller || connection.isLingering {
            readPending = false
            context.read()
        } else {
            readPending = true
        }
    }

    var readsCaller: Bool {
        if stopped { return false }
        guard let call else { return true }
        // A pipelined request waits in `input` until the current answer is out.
        if case .head = reading, let input, input.readableBytes > 0 { return false }
        guard call.machine.readsCaller else { return false }
        // Backpressure: the body waits in the caller's socket while the function's is full.
        if case .body = reading, !call.machine.isDraining, let upstream = call.upstream, !upstream.isWritable { return false }
        return true
    }

    func resumeReadingCaller() {
        guard readPending, readsCaller, let context else { return }
        readPending = false
        context.read()
    }

    /// Handles what `input` holds, as far as the current call allows.
    func handleInput() {
        while !stopped, var bytes = input, bytes.readableBytes > 0 {
            switch reading {
            case .head(let searched):
                // The next request waits until the current call has ended.
                if call != nil { return }
                let end: Int
                switch HTTPHead.scan(bytes, searchedBytes: searched, limit: Self.maximumHeadBytes) {
                case .complete(let found):
                    end = found
                case .incomplete(let searched):
                    reading = .head(searched: searched)
                    return
                case .tooLarge:
                    return refuse(
                        .init(statusCode: 431), "direktiv-dispatch: the request head exceeds \(Self.maximumHeadBytes) bytes", minorVersion: 1)
                case .bareLineFeed:
                    return refuse(.badRequest, "direktiv-dispatch: malformed message head: LF without CR", minorVersion: 1)
                }
                let headBytes = bytes.readSlice(length: end)!
                input = bytes
                reading = .head(searched: 0)
                let head: HTTPHead
                do {
                    head = try HTTPHead(parsing: headBytes, kind: .request)
                } catch {
                    return refuse(Self.status(for: error), "direktiv-dispatch: \(error)", minorVersion: 1)
                }
                connection.requestHeadReceived()
                reading = .body(HTTPBodyFraming(head: head))
                start(head)
                if case .body(let framing) = reading, framing.isComplete { requestEnded() }
            case .body(var framing):
                let consumed: HTTPBodyFraming.Consumed
                do {
                    consumed = try framing.consume(&bytes)
                } catch {
                    input = nil
                    return bodyFramingFailed(error)
                }
                input = bytes.readableBytes > 0 ? bytes : nil
                reading = .body(framing)
                if consumed.message.readableBytes > 0, let call {
                    apply(call.machine.requestBodyReceived(consumed.message), call)
                }
                if consumed.ended { requestEnded() }
            }
        }
    }

    /// The current request's body has all been read.
    private func requestEnded() {
        reading = .head(searched: 0)
        guard let call else { return }
        apply(call.machine.requestEndReceived(), call)
    }

    func apply(_ action: InvocationStateMachine.RequestAction, _ call: Call) {
        switch action {
        case .none:
            break
        case .forward(let buffer):
            call.upstream?.write(buffer)
            activity(call)
        case .forwardEnd:
            // The body's last bytes carried its end; they go out now unless a read's flush follows.
            if !inCallerRead { call.upstream?.flush() }
            activity(call)
        case .drained:
            ended(call)
        }
    }

    static func status(for error: HTTPHead.ParseError) -> HTTPResponseStatus {
        switch error {
        case .malformed, .conflictingFraming, .framingFieldNamedByConnection: .badRequest
        case .unsupportedVersion: .httpVersionNotSupported
        case .unsupportedTransferCoding: .notImplemented
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
            return refuse(.forbidden, "direktiv-dispatch refused the request: \(error)", minorVersion: head.minorVersion, head: head)
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
        let call = Call(
            head: head, target: target, record: record, meters: meters, started: started, machine: InvocationStateMachine(configuration), clock: clock
        )
        self.call = call

        guard case .address(let host, let port) = proxy.resolver.resolve(target) else {
            return fail(call, call.machine.upstreamFailed(.unresolvable, reusedConnection: false))
        }
        guard remaining > .zero else {
            return fail(call, call.machine.upstreamFailed(.deadline, reusedConnection: false))
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
        connection.begin(delegate: self, requestIsHEAD: call.head.methodIs("HEAD"))
        let pending = call.machine.connected()
        // Written per attempt (a retry sends it again), with room for a short body to join it.
        var upstreamHead = context!.channel.allocator.buffer(
            capacity: call.head.bytes.readableBytes + 160 + WriteCoalescer.room(forBodyOf: call.head))
        if addedFields?.host != call.target.host { addedFields = .init(host: call.target.host, client: remote) }
        ProxyHeaders.writeUpstreamHead(call.head, target: call.target, added: addedFields!, into: &upstreamHead)
        connection.write(upstreamHead)
        for buffer in pending.body { connection.write(buffer) }
        // Within a read of the caller, the rest of what it sent goes out with the same flush.
        if !inCallerRead { connection.flush() }
        activity(call)
        resumeReadingCaller()
    }
}
