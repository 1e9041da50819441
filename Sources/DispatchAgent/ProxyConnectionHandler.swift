import NIOCore
import NIOHTTP1

/// Applies `ProxyConnectionStateMachine` to a channel: idle timeout, graceful shutdown, and
/// closing when the caller goes away, so the call it was waiting for is cancelled.
final class ProxyConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var machine = ProxyConnectionStateMachine()
    private let idleTimeout: TimeAmount
    private var idleTimer: Scheduled<Void>?

    /// Sent down the pipeline when the response will end before the request body has: the
    /// connection closes once the response is written.
    struct CloseAfterResponse: Sendable {}

    /// Sent down the pipeline to stop reading the caller (a stalled upload past its timeout):
    /// the request stream ends, the answer still goes out, then the connection closes.
    struct StopReading: Sendable {}

    /// `StopReading` ended the request stream; what the caller still sends is dropped.
    private var stoppedReading = false

    init(idleTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armIdleTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if stoppedReading { return }
        if case .head = unwrapInboundIn(data) {
            machine.requestHeadReceived()
            idleTimer?.cancel()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200 && machine.closesAfterResponse:
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            if machine.responseEndWritten() == .close {
                // Close once the end is on the wire, not before: a close fails pending writes.
                idleTimer?.cancel()
                let written = promise?.futureResult ?? {
                    let written = context.eventLoop.makePromise(of: Void.self)
                    context.write(data, promise: written)
                    return written.futureResult
                }()
                if let promise { context.write(data, promise: promise) }
                let channel = context.channel
                written.whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.write(data, promise: promise)
                armIdleTimer(context)
            }
        default:
            context.write(data, promise: promise)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            apply(machine.shouldQuiesce(), context)
        case ChannelEvent.inputClosed:
            apply(machine.inputClosed(), context)
            context.fireUserInboundEventTriggered(event)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is CloseAfterResponse {
            machine.closeAfterResponse()
            promise?.succeed()
        } else if event is StopReading {
            stoppedReading = true
            machine.closeAfterResponse()
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            promise?.succeed()
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    private func apply(_ action: ProxyConnectionStateMachine.Action, _ context: ChannelHandlerContext) {
        guard action == .close else { return }
        idleTimer?.cancel()
        context.close(promise: nil)
    }

    private func armIdleTimer(_ context: ChannelHandlerContext) {
        idleTimer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: idleTimeout) {
            let (handler, context) = loopBound.value
            handler.apply(handler.machine.idleTimeoutFired(), context)
        }
    }
}
