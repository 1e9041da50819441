import NIOCore

/// The function's side of a call: its answer goes to the caller as it comes.
extension InvocationForwarder: UpstreamConnectionDelegate {
    func upstream(responseHead head: HTTPHead, untilClose: Bool) -> Bool {
        let action = state.responseHeadReceived(head, untilClose: untilClose)
        run(action)
        if case .forwardResponseHead(_, _, let dechunk) = action { return dechunk }
        return false
    }

    func upstream(responseBody buffer: ByteBuffer) {
        run(state.responseBodyReceived(buffer))
    }

    func upstreamResponseEnded(reusable: Bool) {
        run(state.responseEndReceived(reusable: reusable))
    }

    func upstreamReadComplete() {
        guard outgoing.unflushed else { return }
        flushCaller()
    }

    func upstreamBecameWritable() {
        resumeReadingCaller()
    }

    func upstreamClosed(error: (any Error)?) {
        guard let call else { return }
        let requestSent = call.upstream?.requestFlushed ?? true
        call.upstream = nil
        let failure = error.map(UpstreamFailure.init) ?? .upstreamClosed
        run(
            state.upstreamFailed(
                failure, reusedConnection: call.upstreamReused, requestSent: requestSent, idempotent: call.head.hasIdempotentMethod))
    }

    var upstreamMayRead: Bool {
        context?.channel.isWritable ?? false
    }
}
