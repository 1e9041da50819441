import NIOCore
import NIOHTTP1

/// Applies `ProxyConnectionStateMachine` to a channel: idle timeout, graceful shutdown, closing
/// when the caller goes away, and closing after a response the forwarder asked to be the last.
///
/// The idle timer is armed once and re-armed only when it fires early, so requests cost no
/// timer operations.
final class ProxyConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var machine = ProxyConnectionStateMachine()
    private let idleTimeout: TimeAmount
    private var idleTimer: Scheduled<Void>?
    /// When the connection last became idle.
    private var idleSince = NIODeadline.now()

    /// Sent down the pipeline when the connection must end with the response being written
    /// (the rest of the request will not be read, or the caller asked to close).
    struct CloseAfterResponse: Sendable {}

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
        idleTimer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { machine.requestHeadReceived() }
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
                idleTimer = nil
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
                if machine.isIdle { idleSince = .now() }
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
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    private func apply(_ action: ProxyConnectionStateMachine.Action, _ context: ChannelHandlerContext) {
        guard action == .close else { return }
        idleTimer?.cancel()
        idleTimer = nil
        context.close(promise: nil)
    }

    private func armIdleTimer(_ context: ChannelHandlerContext) {
        guard idleTimer == nil else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: idleSince + idleTimeout) { [self] in
            idleTimer = nil
            // Busy: the timer is armed again when the response ends.
            guard machine.isIdle else { return }
            if NIODeadline.now() - idleSince >= idleTimeout {
                apply(machine.idleTimeoutFired(), context)
            } else {
                armIdleTimer(context)
            }
        }
    }
}
