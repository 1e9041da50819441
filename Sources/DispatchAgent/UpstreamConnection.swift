import NIOCore
import NIOHTTP1

/// What an upstream connection reports to the call that holds it. Called on the event loop.
protocol UpstreamConnectionDelegate: AnyObject {
    func upstream(received part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamBecameWritable()
    /// The connection closed; `error` is what it reported first, if anything.
    func upstreamClosed(error: (any Error)?)
    /// Whether the caller can take more of the answer now (else reading the function pauses).
    var upstreamMayRead: Bool { get }
}

/// One keep-alive HTTP/1.1 connection to a function, the last handler of its pipeline.
///
/// A call leases it from the `UpstreamConnectionPool` of its event loop, becomes its delegate,
/// and gives it back when the answer is complete; everything runs on that one loop, so there are
/// no locks and no thread hops. Reading pauses while the delegate's caller cannot take more.
final class UpstreamConnection: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    struct Key: Hashable, Sendable {
        var host: String
        var port: Int
    }

    let key: Key
    private(set) var context: ChannelHandlerContext?
    /// The call holding the connection; cleared when it lets go, which breaks the reference cycle.
    var delegate: (any UpstreamConnectionDelegate)?
    /// Set while the connection waits in its pool, cleared when leased.
    var pool: UpstreamConnectionPool?
    /// Calls this connection has carried; above zero it is a reused keep-alive connection.
    var calls = 0
    var idleSince = NIODeadline.now()
    private var readPending = false
    private var firstError: (any Error)?
    private(set) var isOpen = true

    init(key: Key) {
        self.key = key
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let delegate {
            delegate.upstream(received: unwrapInboundIn(data))
        } else {
            // An idle keep-alive connection has nothing to say: whatever comes, it is not reusable.
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { delegate?.upstreamBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if firstError == nil { firstError = error }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isOpen = false
        pool?.closed(self)
        pool = nil
        let delegate = delegate
        self.delegate = nil
        delegate?.upstreamClosed(error: firstError)
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

    func write(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    /// Closes the connection without telling the delegate (it has let go).
    func close() {
        delegate = nil
        guard isOpen, let context else { return }
        isOpen = false
        context.close(promise: nil)
    }
}
