import NIOCore

/// Where an HTTP/1.1 message body ends, as a state machine over its bytes as they arrive.
///
/// The proxy forwards bodies as they came, chunk framing included; this only decides which of
/// the incoming bytes belong to the message, and checks chunked framing strictly so that the
/// proxy and the peer behind it never disagree on where a message ends. For a caller that
/// cannot take chunks (HTTP/1.0), the chunks' data can be taken instead.
public struct HTTPBodyFraming: Sendable, Hashable {
    public enum Mode: Sendable, Hashable {
        case none
        case length(Int64)
        case chunked
        /// Until the connection closes (a response without length or coding).
        case untilClose
    }

    public struct FramingError: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// The bytes of one input that belong to the message.
    public struct Consumed: Sendable {
        public var message: ByteBuffer
        /// The message ended within them; what is left of the input comes after it.
        public var ended: Bool
    }

    private enum Chunk: Sendable, Hashable {
        case size(value: Int64, digits: Int)
        /// After the size: whitespace and extensions up to the line's end.
        case sizeRest
        case sizeLF(size: Int64)
        case data(remaining: Int64)
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerLine
        case trailerLF
        case finalLF
    }

    private enum State: Sendable, Hashable {
        case length(remaining: Int64)
        case chunked(Chunk)
        case untilClose
        case complete
    }

    private var state: State
    private var trailerBytes = 0
    /// Longest chunk-size line and trailer section accepted.
    static let maximumFramingBytes = 64 * 1024
    private var lineBytes = 0

    public init(_ mode: Mode) {
        switch mode {
        case .none, .length(0): state = .complete
        case .length(let length): state = .length(remaining: length)
        case .chunked: state = .chunked(.size(value: 0, digits: 0))
        case .untilClose: state = .untilClose
        }
    }

    /// The framing of a message with `head`; responses also need the request's method.
    public init(head: HTTPHead, requestMethodIsHEAD: Bool = false) {
        switch head.kind {
        case .request:
            self.init(head.isChunked ? .chunked : head.contentLength.map { .length($0) } ?? .none)
        case .response:
            if requestMethodIsHEAD || head.status < 200 || head.status == 204 || head.status == 304 {
                self.init(.none)
            } else {
                self.init(head.isChunked ? .chunked : head.contentLength.map { .length($0) } ?? .untilClose)
            }
        }
    }

    public var isComplete: Bool { state == .complete }

    /// Bytes still expected, when the framing says.
    public var remainingLength: Int64? {
        if case .length(let remaining) = state { return remaining }
        return nil
    }

    /// The connection closed: `true` when that ends the message properly.
    public mutating func inputClosed() -> Bool {
        switch state {
        case .complete: return true
        case .untilClose:
            state = .complete
            return true
        case .length, .chunked: return false
        }
    }

    /// Takes the message's bytes from the front of `input`, leaving what follows the message.
    public mutating func consume(_ input: inout ByteBuffer) throws(FramingError) -> Consumed {
        try consume(&input) { _ in }
    }

    /// As `consume(_:)`, also handing each piece of chunk data to `chunkData`.
    public mutating func consume(_ input: inout ByteBuffer, chunkData: (ByteBuffer) -> Void) throws(FramingError) -> Consumed {
        switch state {
        case .complete:
            return Consumed(message: input.readSlice(length: 0)!, ended: true)
        case .untilClose:
            return Consumed(message: input.readSlice(length: input.readableBytes)!, ended: false)
        case .length(let remaining):
            let taken = Int(min(Int64(input.readableBytes), remaining))
            let message = input.readSlice(length: taken)!
            state = remaining == Int64(taken) ? .complete : .length(remaining: remaining - Int64(taken))
            return Consumed(message: message, ended: isComplete)
        case .chunked(let chunk):
            let original = input
            var chunk = chunk
            while input.readableBytes > 0, state != .complete {
                if case .data(let remaining) = chunk {
                    let taken = Int(min(Int64(input.readableBytes), remaining))
                    chunkData(input.getSlice(at: input.readerIndex, length: taken)!)
                    input.moveReaderIndex(forwardBy: taken)
                    chunk = remaining == Int64(taken) ? .dataCR : .data(remaining: remaining - Int64(taken))
                    continue
                }
                let byte = input.readInteger(as: UInt8.self)!
                chunk = try step(chunk, byte)
            }
            if state != .complete { state = .chunked(chunk) }
            let message = original.getSlice(at: original.readerIndex, length: input.readerIndex - original.readerIndex)!
            return Consumed(message: message, ended: isComplete)
        }
    }

    /// One byte of chunk framing.
    private mutating func step(_ chunk: Chunk, _ byte: UInt8) throws(FramingError) -> Chunk {
        lineBytes += 1
        if lineBytes > Self.maximumFramingBytes { throw FramingError(description: "chunk framing line too long") }
        switch chunk {
        case .size(let value, let digits):
            if let digit = Self.hexValue(byte) {
                guard digits < 15 else { throw FramingError(description: "chunk size too large") }
                return .size(value: value * 16 + Int64(digit), digits: digits + 1)
            }
            guard digits > 0 else { throw FramingError(description: "invalid chunk size") }
            return try afterSize(value, byte)
        case .sizeRest:
            return try sizeRest(byte)
        case .sizeLF(let size):
            guard byte == UInt8(ascii: "\n") else { throw FramingError(description: "CR without LF in chunk size line") }
            lineBytes = 0
            return size == 0 ? .trailerLineStart : .data(remaining: size)
        case .data:
            preconditionFailure("data is taken in bulk")
        case .dataCR:
            guard byte == UInt8(ascii: "\r") else { throw FramingError(description: "chunk data longer than its size") }
            return .dataLF
        case .dataLF:
            guard byte == UInt8(ascii: "\n") else { throw FramingError(description: "CR without LF after chunk data") }
            lineBytes = 0
            return .size(value: 0, digits: 0)
        case .trailerLineStart:
            if byte == UInt8(ascii: "\r") { return .finalLF }
            return try trailer(byte)
        case .trailerLine:
            if byte == UInt8(ascii: "\r") { return .trailerLF }
            return try trailer(byte)
        case .trailerLF:
            guard byte == UInt8(ascii: "\n") else { throw FramingError(description: "CR without LF in trailer") }
            return .trailerLineStart
        case .finalLF:
            guard byte == UInt8(ascii: "\n") else { throw FramingError(description: "CR without LF at the end of the chunked body") }
            state = .complete
            return .finalLF
        }
    }

    /// The chunk size is read; what may follow on its line: whitespace, extensions, CRLF.
    private var pendingSize: Int64 = 0

    private mutating func afterSize(_ size: Int64, _ byte: UInt8) throws(FramingError) -> Chunk {
        pendingSize = size
        return try sizeRest(byte)
    }

    private mutating func sizeRest(_ byte: UInt8) throws(FramingError) -> Chunk {
        if byte == UInt8(ascii: "\r") { return .sizeLF(size: pendingSize) }
        // Extensions (`;name=value`) and whitespace pass; control characters do not.
        guard byte == UInt8(ascii: "\t") || (byte >= 0x20 && byte != 0x7F) else { throw FramingError(description: "invalid chunk extension") }
        return .sizeRest
    }

    private mutating func trailer(_ byte: UInt8) throws(FramingError) -> Chunk {
        trailerBytes += 1
        guard trailerBytes <= Self.maximumFramingBytes else { throw FramingError(description: "trailer section too large") }
        guard byte == UInt8(ascii: "\t") || (byte >= 0x20 && byte != 0x7F) else { throw FramingError(description: "invalid trailer field") }
        return .trailerLine
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
