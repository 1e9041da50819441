import NIOCore

/// Where an HTTP/1.1 message body ends, as a state machine over its bytes as they arrive.
///
/// The proxy forwards bodies as they came, chunk framing included; this only decides which of
/// the incoming bytes belong to the message, and checks chunked framing strictly so that the
/// proxy and the peer behind it never disagree on where a message ends. For a caller that
/// cannot take chunks (HTTP/1.0), the chunks' data can be taken instead.
package struct HTTPBodyFraming: Sendable, Hashable {
    package enum Mode: Sendable, Hashable {
        case none
        case length(Int64)
        case chunked
        /// Until the connection closes (a response without length or coding).
        case untilClose
    }

    package struct FramingError: Error, Sendable, Hashable, CustomStringConvertible {
        package var description: String
    }

    /// The bytes of one input that belong to the message.
    package struct Consumed: Sendable {
        package var message: ByteBuffer
        /// The message ended within them; what is left of the input comes after it.
        package var ended: Bool
    }

    /// Where the reader is in the chunked coding (RFC 9112 §7.1):
    ///
    ///     chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
    ///     chunk-size     = 1*HEXDIG
    ///     chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    ///     chunk-ext-val  = token / quoted-string
    ///     trailer-section = *( field-line CRLF )
    ///     field-line     = field-name ":" OWS field-value OWS
    ///
    /// Anything else is refused: a lenient reader here and a different lenient reader behind
    /// the proxy would disagree on where the body ends (`0x5` read as 0 here and 5 there).
    private enum Chunk: Sendable, Hashable {
        case size(value: Int64, digits: Int)
        /// Whitespace after the size or an extension value: only `;` or more whitespace may follow.
        case extensionSeparator
        /// After `;`: whitespace, then an extension name.
        case extensionNameStart
        case extensionName
        /// Whitespace after an extension name: `=`, `;` or the line's end may follow.
        case extensionAfterName
        /// After `=`: whitespace, then a token or a quoted string.
        case extensionValueStart
        case extensionToken
        case extensionQuoted
        case extensionQuotedPair
        /// After a quoted value's closing quote: `;`, whitespace before one, or the line's end.
        case extensionAfterQuoted
        case sizeLF
        case data(remaining: Int64)
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerName
        case trailerValue
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

    package init(_ mode: Mode) {
        switch mode {
        case .none, .length(0): state = .complete
        case .length(let length): state = .length(remaining: length)
        case .chunked: state = .chunked(.size(value: 0, digits: 0))
        case .untilClose: state = .untilClose
        }
    }

    /// The framing of a message with `head`; responses also need the request's method.
    package init(head: HTTPHead, requestMethodIsHEAD: Bool = false) {
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

    package var isComplete: Bool { state == .complete }

    /// Bytes still expected, when the framing says.
    package var remainingLength: Int64? {
        if case .length(let remaining) = state { return remaining }
        return nil
    }

    /// The connection closed: `true` when that ends the message properly.
    package mutating func inputClosed() -> Bool {
        switch state {
        case .complete: return true
        case .untilClose:
            state = .complete
            return true
        case .length, .chunked: return false
        }
    }

    /// Takes the message's bytes from the front of `input`, leaving what follows the message.
    package mutating func consume(_ input: inout ByteBuffer) throws(FramingError) -> Consumed {
        try consume(&input) { _ in }
    }

    /// As `consume(_:)`, also handing each piece of chunk data to `chunkData`.
    package mutating func consume(_ input: inout ByteBuffer, chunkData: (ByteBuffer) -> Void) throws(FramingError) -> Consumed {
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
        let isWhitespace = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
        let isCR = byte == UInt8(ascii: "\r")
        switch chunk {
        case .size(let value, let digits):
            if let digit = Self.hexValue(byte) {
                // 2^60 bytes and more are no body anyone sends; the check keeps `value` from overflowing.
                guard value <= Int64.max >> 8 else { throw FramingError(description: "chunk size too large") }
                return .size(value: value * 16 + Int64(digit), digits: digits + 1)
            }
            guard digits > 0 else { throw FramingError(description: "invalid chunk size") }
            pendingSize = value
            if isCR { return .sizeLF }
            if isWhitespace { return .extensionSeparator }
            if byte == UInt8(ascii: ";") { return .extensionNameStart }
            throw FramingError(description: "invalid chunk size")
        case .extensionSeparator:
            if isWhitespace { return .extensionSeparator }
            if byte == UInt8(ascii: ";") { return .extensionNameStart }
            throw FramingError(description: "invalid chunk extension")
        case .extensionNameStart:
            if isWhitespace { return .extensionNameStart }
            if HTTPHead.Parser.isTokenCharacter(byte) { return .extensionName }
            throw FramingError(description: "invalid chunk extension")
        case .extensionName:
            if HTTPHead.Parser.isTokenCharacter(byte) { return .extensionName }
            if isCR { return .sizeLF }
            return try afterExtensionName(byte, isWhitespace: isWhitespace)
        case .extensionAfterName:
            // BWS may stand before `=` or `;`, not before the line's end.
            return try afterExtensionName(byte, isWhitespace: isWhitespace)
        case .extensionValueStart:
            if isWhitespace { return .extensionValueStart }
            if byte == UInt8(ascii: "\"") { return .extensionQuoted }
            if HTTPHead.Parser.isTokenCharacter(byte) { return .extensionToken }
            throw FramingError(description: "invalid chunk extension")
        case .extensionToken:
            if HTTPHead.Parser.isTokenCharacter(byte) { return .extensionToken }
            if isCR { return .sizeLF }
            if isWhitespace { return .extensionSeparator }
            if byte == UInt8(ascii: ";") { return .extensionNameStart }
            throw FramingError(description: "invalid chunk extension")
        case .extensionQuoted:
            if byte == UInt8(ascii: "\"") { return .extensionAfterQuoted }
            if byte == UInt8(ascii: "\\") { return .extensionQuotedPair }
            guard HTTPHead.Parser.isFieldValueCharacter(byte) else { throw FramingError(description: "invalid chunk extension") }
            return .extensionQuoted
        case .extensionAfterQuoted:
            if isCR { return .sizeLF }
            if isWhitespace { return .extensionSeparator }
            if byte == UInt8(ascii: ";") { return .extensionNameStart }
            throw FramingError(description: "invalid chunk extension")
        case .extensionQuotedPair:
            guard HTTPHead.Parser.isFieldValueCharacter(byte) else { throw FramingError(description: "invalid chunk extension") }
            return .extensionQuoted
        case .sizeLF:
            guard byte == UInt8(ascii: "\n") else { throw FramingError(description: "CR without LF in chunk size line") }
            lineBytes = 0
            return pendingSize == 0 ? .trailerLineStart : .data(remaining: pendingSize)
        case .data:
            // Data is taken in bulk by `consume`, never byte by byte.
            throw FramingError(description: "chunk data read as framing")
        case .dataCR:
            guard isCR else { throw FramingError(description: "chunk data longer than its size") }
            return .dataLF
        case .dataLF:
            guard byte == UInt8(ascii: "\n") else { throw FramingError(description: "CR without LF after chunk data") }
            lineBytes = 0
            return .size(value: 0, digits: 0)
        case .trailerLineStart:
            if isCR { return .finalLF }
            try countTrailerByte()
            // A field name; whitespace here would be obsolete line folding.
            guard HTTPHead.Parser.isTokenCharacter(byte) else { throw FramingError(description: "invalid trailer field") }
            trailerName = [byte]
            return .trailerName
        case .trailerName:
            try countTrailerByte()
            if byte == UInt8(ascii: ":") {
                // RFC 9110 §6.5.1: framing and routing fields have no place in trailers; a
                // recipient that merged them would read another length or host than this proxy.
                let name = trailerName.withUnsafeBytes(HTTPHead.Parser.fieldName)
                if Self.prohibitedTrailerFields.contains(name) { throw FramingError(description: "framing field in trailer") }
                return .trailerValue
            }
            guard HTTPHead.Parser.isTokenCharacter(byte) else { throw FramingError(description: "invalid trailer field") }
            // Past the longest name the classification knows, the name is just longer: `.other`.
            if trailerName.count <= Self.longestKnownFieldName { trailerName.append(byte) }
            return .trailerName
        case .trailerValue:
            if isCR { return .trailerLF }
            try countTrailerByte()
            guard HTTPHead.Parser.isFieldValueCharacter(byte) else { throw FramingError(description: "invalid trailer field") }
            return .trailerValue
        case .trailerLF:
            guard byte == UInt8(ascii: "\n") else { throw FramingError(description: "CR without LF in trailer") }
            return .trailerLineStart
        case .finalLF:
            guard byte == UInt8(ascii: "\n") else { throw FramingError(description: "CR without LF at the end of the chunked body") }
            state = .complete
            return .finalLF
        }
    }

    /// The chunk size read, while the rest of its line is.
    private var pendingSize: Int64 = 0
    /// The current trailer field's name, up to one byte more than the longest name
    /// `HTTPHead.Parser.fieldName` knows (so a longer name never looks like a known one).
    private var trailerName: [UInt8] = []
    private static let longestKnownFieldName = "proxy-authorization".utf8.count
    /// RFC 9110 §6.5.1: framing, routing and connection fields.
    private static let prohibitedTrailerFields: Set<HTTPHead.FieldName> = [
        .contentLength, .transferEncoding, .underscoredFraming, .host, .trailer, .connection,
    ]

    private func afterExtensionName(_ byte: UInt8, isWhitespace: Bool) throws(FramingError) -> Chunk {
        if isWhitespace { return .extensionAfterName }
        if byte == UInt8(ascii: "=") { return .extensionValueStart }
        if byte == UInt8(ascii: ";") { return .extensionNameStart }
        throw FramingError(description: "invalid chunk extension")
    }

    private mutating func countTrailerByte() throws(FramingError) {
        trailerBytes += 1
        guard trailerBytes <= Self.maximumFramingBytes else { throw FramingError(description: "trailer section too large") }
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
