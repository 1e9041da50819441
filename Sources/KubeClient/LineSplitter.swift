import NIOCore

/// Splits a byte stream into newline-delimited frames, whatever the chunk boundaries.
///
/// Watch events arrive as one JSON document per line, but the network cuts the stream anywhere:
/// in the middle of a line, or several lines at once.
public struct LineSplitter: Sendable {
    private var pending = ByteBuffer()
    /// Longest line accepted; a longer one means a broken or hostile stream.
    public let maximumLineLength: Int

    public init(maximumLineLength: Int = 16 << 20) {
        self.maximumLineLength = maximumLineLength
    }

    public struct LineTooLong: Error, Sendable, CustomStringConvertible {
        public var limit: Int
        public var description: String { "a line exceeded \(limit) bytes" }
    }

    /// Adds a chunk and returns the lines it completed, without their newlines.
    public mutating func append(_ chunk: ByteBuffer) throws(LineTooLong) -> [ByteBuffer] {
        var chunk = chunk
        pending.writeBuffer(&chunk)
        var lines: [ByteBuffer] = []
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            var line = pending.readSlice(length: length)!
            pending.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
            if line.readableBytes > 0 { lines.append(line) }
        }
        if pending.readableBytes > maximumLineLength { throw LineTooLong(limit: maximumLineLength) }
        pending.discardReadBytes()
        return lines
    }

    /// The unterminated rest at the end of the stream, if any.
    public mutating func finish() -> ByteBuffer? {
        defer { pending.clear() }
        let rest = pending
        return rest.readableBytesView.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) ? nil : rest
    }
}
