import NIOCore

/// Joins small writes to one connection until its next flush, so that a head and a short body
/// leave as one buffer.
///
/// Every write handed to NIO costs a trip through the pipeline and an entry in its pending
/// writes, more than copying a few hundred bytes: a typical call (head plus a small JSON body,
/// each way) then makes one write per direction instead of two. Large buffers are never
/// copied; they follow what is held, in order.
struct WriteCoalescer {
    /// Largest buffer that is joined rather than written on its own.
    static let limit = 4096

    private var held: ByteBuffer?
    /// Bytes were written (held or passed on) since the last flush.
    private(set) var unflushed = false

    /// Whether bytes wait for the next flush.
    var isEmpty: Bool { held == nil }

    /// Adds `buffer` after what is held; `emit` receives, in order, whatever must be written now.
    mutating func write(_ buffer: ByteBuffer, _ emit: (ByteBuffer) -> Void) {
        guard var joined = held else {
            if buffer.readableBytes <= Self.limit {
                held = buffer
            } else {
                emit(buffer)
            }
            return
        }
        if joined.readableBytes + buffer.readableBytes <= Self.limit {
            held = nil
            joined.writeImmutableBuffer(buffer)
            held = joined
            return
        }
        held = nil
        emit(joined)
        write(buffer, emit)
    }

    /// What is held, to be written before a flush.
    mutating func take() -> ByteBuffer? {
        defer { held = nil }
        return held
    }

    /// Room to leave after a head for its body to join it: the body's declared length, if short.
    static func room(forBodyOf head: HTTPHead) -> Int {
        Int(min(head.contentLength ?? 0, Int64(limit)))
    }
}

extension WriteCoalescer {
    /// Writes `buffer` to `context`'s channel at the next `flush(_:)`.
    mutating func write(_ buffer: ByteBuffer, to context: ChannelHandlerContext) {
        unflushed = true
        write(buffer) { context.write(NIOAny($0), promise: nil) }
    }

    /// Writes what is held, then flushes the channel; `promise` completes when all is written.
    mutating func flush(_ context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        unflushed = false
        if let held = take() {
            context.writeAndFlush(NIOAny(held), promise: promise)
        } else if let promise {
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        } else {
            context.flush()
        }
    }
}
