import NIOCore

/// What an upstream connection reports to the call that holds it. Called on the event loop.
protocol UpstreamConnectionDelegate: AnyObject {
    /// The answer's head. `untilClose`: its body ends when the connection does. Returns whether
    /// the body is wanted without its chunk framing.
    func upstream(responseHead: HTTPHead, untilClose: Bool) -> Bool
    func upstream(responseBody: ByteBuffer)
    /// The answer is complete; `reusable`: the connection may carry another call.
    func upstreamResponseEnded(reusable: Bool)
    func upstreamReadComplete()
    func upstreamBecameWritable()
    /// The connection closed before the answer was complete; `error` is what it reported first.
    func upstreamClosed(error: (any Error)?)
    /// Whether the caller can take more of the answer now (else reading the function pauses).
    var upstreamMayRead: Bool { get }
}

/// One keep-alive HTTP/1.1 connection to a function, the only handler of its pipeline.
///
/// A call leases it from the `UpstreamConnectionPool` of its event loop, writes the request's
/// bytes, and hears the answer delimited (`HTTPHead`, `HTTPBodyFraming`) but otherwise as it
/// came; it gives the connection back when the answer is complete. Everything runs on that one
/// loop: no locks and no thread hops. Reading pauses while the caller cannot take more.
final class UpstreamConnection: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A function's address: the pools' key.
    struct Key: Hashable, Sendable {
        let host: String
        let port: Int
        /// Computed once: a call's key is looked up when it leases and when it gives back.
        private let hash: Int

        init(host: String, port: Int) {
            self.host = host
            self.port = port
            var hasher = Hasher()
            hasher.combine(host)
            hasher.combine(port)
            hash = hasher.finalize()
        }

        /// A call's key before its function resolved.
        static let unresolved = Key(host: "", port: 0)

        static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.hash == rhs.hash && lhs.port == rhs.port && lhs.host == rhs.host
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(hash)
        }
    }

    private enum Response {
        /// No call holds the connection.
        case idle
        case head(searched: Int)
        case body(HTTPBodyFraming, dechunk: Bool, reusable: Bool)
    }

    /// Longest answer head accepted.
    static let maximumHeadBytes = 64 * 1024

    let key: Key
    private(set) var context: ChannelHandlerContext?
    /// The call holding the connection; cleared when it lets go, which breaks the reference cycle.
    private(set) var delegate: (any UpstreamConnectionDelegate)?
    /// Set while the connection waits in its pool, cleared when leased.
    var pool: UpstreamConnectionPool?
    /// Calls this connection has carried; above zero it is a reused keep-alive connection.
    var calls = 0
    var idleSince = NIODeadline.now()
    private var response = Response.idle
    private var input: ByteBuffer?
    private var requestIsHEAD = false
    private var readPending = false
    private var firstError: (any Error)?
    private(set) var isOpen = true
    private var outgoing = WriteCoalescer()
    /// The current call's bytes were flushed to the open connection: the function may have read
    /// them, so a request that is not idempotent must not be sent again (`InvocationStateMachine`).
    /// A call flushes only after writing its head, so any flush since `begin` carried its bytes.
    private(set) var requestFlushed = false

    init(key: Key) {
        self.key = key
    }

    /// A call takes the connection; its answer will be reported to `delegate`.
    func begin(delegate: any UpstreamConnectionDelegate, requestIsHEAD: Bool) {
        self.delegate = delegate
        self.requestIsHEAD = requestIsHEAD
        response = .head(searched: 0)
        requestFlushed = false
    }

    /// The call lets go (its answer is complete, or it gave up).
    func end() {
        delegate = nil
        response = .idle
        input = nil
        _ = outgoing.take()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard delegate != nil else {
            // An idle keep-alive connection has nothing to say: whatever comes, it is not reusable.
            context.close(promise: nil)
            return
        }
        var bytes = unwrapInboundIn(data)
        if input == nil || input!.readableBytes == 0 {
            input = bytes
        } else {
            input!.writeBuffer(&bytes)
        }
        handleInput()
    }

    private func handleInput() {
        while let delegate, var bytes = input, bytes.readableBytes > 0 {
            switch response {
            case .idle:
                // More than the answer: the connection is out of step, not reusable.
                return failed(HTTPHead.ParseError.malformed("bytes after the answer"))
            case .head(let searched):
                let end: Int
                switch HTTPHead.scan(bytes, searchedBytes: searched, limit: Self.maximumHeadBytes) {
                case .complete(let found):
                    end = found
                case .incomplete(let searched):
                    response = .head(searched: searched)
                    return
                case .tooLarge:
                    return failed(HTTPHead.ParseError.malformed("answer head too large"))
                case .bareLineFeed:
                    return failed(HTTPHead.ParseError.malformed("LF without CR"))
                }
                let headBytes = bytes.readSlice(length: end)!
                input = bytes
                let head: HTTPHead
                do {
                    head = try HTTPHead(parsing: headBytes, kind: .response)
                } catch {
                    return failed(error)
                }
                if head.status < 200 {
                    // Informational answers stay here: the proxy answered `Expect` itself and
                    // asked for no upgrade.
                    if head.status == 101 { return failed(HTTPHead.ParseError.malformed("unexpected protocol switch")) }
                    response = .head(searched: 0)
                    continue
                }
                let framing = HTTPBodyFraming(head: head, requestMethodIsHEAD: requestIsHEAD)
                let untilClose = !framing.isComplete && !head.isChunked && head.contentLength == nil
                let dechunk = delegate.upstream(responseHead: head, untilClose: untilClose)
                response = .body(framing, dechunk: dechunk, reusable: head.isKeepAlive && !untilClose)
                if framing.isComplete { responseEnded() }
            case .body(var framing, let dechunk, let reusable):
                let consumed: HTTPBodyFraming.Consumed
                do {
                    if dechunk {
                        consumed = try framing.consume(&bytes) { delegate.upstream(responseBody: $0) }
                    } else {
                        consumed = try framing.consume(&bytes)
                    }
                } catch {
                    return failed(error)
                }
                input = bytes
                response = .body(framing, dechunk: dechunk, reusable: reusable)
                if !dechunk, consumed.message.readableBytes > 0 { delegate.upstream(responseBody: consumed.message) }
                if consumed.ended { responseEnded() }
            }
        }
    }

    private func responseEnded() {
        guard case .body(_, _, let reusable) = response else { return }
        let leftover = (input?.readableBytes ?? 0) > 0
        let delegate = delegate
        response = .idle
        delegate?.upstreamResponseEnded(reusable: reusable && !leftover)
    }

    /// The function's bytes cannot be read as HTTP: the connection ends and the call hears why.
    private func failed(_ error: any Error) {
        if firstError == nil { firstError = error }
        context?.close(promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { delegate?.upstreamBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failed(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isOpen = false
        pool?.closed(self)
        pool = nil
        if case .body(var framing, _, _) = response, firstError == nil, framing.inputClosed() {
            // An answer without length ends with the connection.
            response = .body(framing, dechunk: false, reusable: false)
            responseEnded()
        } else if let delegate {
            end()
            delegate.upstreamClosed(error: firstError)
        }
        end()
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if let delegate, !delegate.upstreamMayRead {
            readPending = true
        } else {
            readPending = false
            context.read()
        }
    }

    /// The caller can take more of the answer: resume reading the function if it paused.
    func resumeReading() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Writes `buffer` at the next `flush()` (small buffers are joined, see `WriteCoalescer`).
    func write(_ buffer: ByteBuffer) {
        guard let context else { return }
        outgoing.write(buffer, to: context)
    }

    func flush() {
        guard let context else { return }
        if context.channel.isActive { requestFlushed = true }
        outgoing.flush(context)
    }

    /// Closes the connection without telling the delegate (it has let go).
    func close() {
        end()
        guard isOpen, let context else { return }
        isOpen = false
        context.close(promise: nil)
    }
}
