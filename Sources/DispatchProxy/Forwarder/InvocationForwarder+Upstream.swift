import NIOCore

/// The function's side of a call: its answer goes to the caller as it comes.
extension InvocationForwarder: UpstreamConnectionDelegate {
    func upstream(responseHead head: HTTPHead, untilClose: Bool) -> Bool {
        guard let call, let context, call.machine.responseHeadReceived() else { return false }
        call.code = head.status
        // An HTTP/1.0 caller takes no chunks: it gets the data, and the close says where it ends.
        let dechunk = head.isChunked && call.head.minorVersion == 0
        if untilClose || dechunk || connection.closesAfterResponse { call.closesCaller = true }
        var buffer = context.channel.allocator.buffer(capacity: head.bytes.readableBytes + 32 + WriteCoalescer.room(forBodyOf: head))
        ProxyHeaders.writeDownstreamHead(
            head, framing: .init(callerMinorVersion: call.head.minorVersion, close: call.closesCaller, dechunked: dechunk), into: &buffer)
        writeToCaller(buffer)
        activity(call)
        return dechunk
    }

    func upstream(responseBody buffer: ByteBuffer) {
        guard let call, call.machine.forwardsResponse else { return }
        writeToCaller(buffer)
        activity(call)
    }

    func upstreamResponseEnded(reusable: Bool) {
        guard let call, let end = call.machine.responseEndReceived(upstreamKeepAlive: reusable) else { return }
        if let upstream = call.upstream {
            call.upstream = nil
            if end.reuseUpstream { pool.release(upstream) } else { upstream.close() }
        }
        if end.caller == .close {
            // The rest of the request body is too large to read and drop.
            stopped = true
            call.closesCaller = true
        }
        record(call)
        responseEnded(close: call.closesCaller)
        activity(call)
        if call.machine.isFinished { ended(call) }
    }

    func upstreamReadComplete() {
        guard needsFlush else { return }
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
        fail(
            call,
            call.machine.upstreamFailed(
                failure, reusedConnection: call.upstreamReused, requestSent: requestSent, idempotent: call.head.hasIdempotentMethod))
    }

    var upstreamMayRead: Bool {
        context?.channel.isWritable ?? false
    }
}
