import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed HTTP/1.x message head that keeps its bytes: fields are ranges into them, so the
/// proxy can forward lines as they came without turning them into strings.
///
/// The parser is strict, as a proxy's must be to keep both sides agreeing where a message
/// ends (RFC 9112): CRLF line endings only, no whitespace before a field's colon, no obsolete
/// line folding, no control characters in values, one `Content-Length` value, `chunked` as the
/// only transfer coding and never beside `Content-Length` in a request.
package struct HTTPHead: Sendable {
    package enum Kind: Sendable {
        case request
        case response
    }

    /// The names the proxy acts on; every other field is `.other`.
    package enum FieldName: Sendable, Hashable {
        case other
        case connection
        case keepAlive
        case proxyConnection
        case proxyAuthenticate
        case proxyAuthorization
        case te
        case trailer
        case transferEncoding
        case upgrade
        case host
        case contentLength
        case expect
        case xForwardedFor
        case forwarded
        case direktivDeadline
        /// `Content_Length` or `Transfer_Encoding`: CGI and WSGI map `_` and `-` alike
        /// (HTTP_TRANSFER_ENCODING), so a function behind such a gateway would read framing
        /// this proxy does not. Refused, where nginx drops them.
        case underscoredFraming
    }

    package struct Field: Sendable, Hashable {
        package var name: FieldName
        /// Offsets into `bytes`: the name, the value without surrounding whitespace, the whole line with its CRLF.
        package var nameRange: Range<Int>
        package var valueRange: Range<Int>
        package var lineRange: Range<Int>
    }

    package enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case malformed(String)
        case unsupportedVersion
        case unsupportedTransferCoding
        case conflictingFraming
        /// `Connection` names `Transfer-Encoding` or `Content-Length`.
        case framingFieldNamedByConnection

        package var description: String {
            switch self {
            case .malformed(let why): "malformed message head: \(why)"
            case .unsupportedVersion: "only HTTP/1.0 and HTTP/1.1 are supported"
            case .unsupportedTransferCoding: "only the chunked transfer coding is supported"
            case .conflictingFraming: "conflicting Content-Length or Transfer-Encoding"
            case .framingFieldNamedByConnection: "Connection names a framing field (Transfer-Encoding or Content-Length)"
            }
        }
    }

    /// From the start line to the empty line that ends the head, both included.
    package let bytes: ByteBuffer
    package let kind: Kind
    package private(set) var minorVersion = 1
    /// Requests: the method and request-target.
    package private(set) var methodRange = 0..<0
    package private(set) var targetRange = 0..<0
    /// Responses: the status code and the reason phrase.
    package private(set) var status = 0
    package private(set) var reasonRange = 0..<0
    /// Where the start line ends (after its CRLF).
    package private(set) var startLineEnd = 0
    package private(set) var fields: [Field] = []
    package private(set) var contentLength: Int64?
    package private(set) var isChunked = false
    /// `Connection` tokens other than `close` and `keep-alive`, lower-cased: more hop-by-hop fields.
    package private(set) var connectionOptions: [String] = []
    package private(set) var hasConnectionClose = false
    package private(set) var hasConnectionKeepAlive = false

    /// Whether the connection may carry another message after this one.
    package var isKeepAlive: Bool {
        minorVersion == 0 ? hasConnectionKeepAlive && !hasConnectionClose : !hasConnectionClose
    }

    package var method: String { string(methodRange) }
    package var target: String { string(targetRange) }

    package func string(_ range: Range<Int>) -> String {
        bytes.getString(at: bytes.readerIndex + range.lowerBound, length: range.count) ?? ""
    }

    /// The value of the first field called `name`.
    package func value(_ name: FieldName) -> String? {
        fields.first { $0.name == name }.map { string($0.valueRange) }
    }

    /// Whether the method is one whose repetition has the effect of one request (RFC 9110
    /// §9.2.2): GET, HEAD, OPTIONS, TRACE, PUT, DELETE.
    package var hasIdempotentMethod: Bool {
        methodIs("GET") || methodIs("HEAD") || methodIs("PUT") || methodIs("DELETE") || methodIs("OPTIONS") || methodIs("TRACE")
    }

    /// Whether the method's bytes are `method` (methods are case-sensitive).
    package func methodIs(_ method: StaticString) -> Bool {
        guard methodRange.count == method.utf8CodeUnitCount else { return false }
        return bytes.withUnsafeReadableBytes { raw in
            method.withUTF8Buffer { expected in
                raw[methodRange].elementsEqual(expected)
            }
        }
    }

    /// How far a head that starts at a buffer's reader index has come (`scan(_:searchedBytes:limit:)`).
    package enum Scan: Sendable, Hashable {
        /// The head ends just before `end` (past its empty line).
        case complete(end: Int)
        /// No end yet; the first `searched` bytes need not be looked at again.
        case incomplete(searched: Int)
        /// The head is longer than the limit, or will be.
        case tooLarge
        /// A line ends in LF without CR. RFC 9112 §2.2 lets a recipient accept it, but a proxy
        /// that did would read lines where the function behind it may not: refused at once,
        /// rather than waiting for a CRLF CRLF that never comes.
        case bareLineFeed
    }

    /// Looks for the end of the head that starts at `buffer`'s reader index, from `searchedBytes`
    /// on (bytes before it were looked at already). A head counts against `limit` with its
    /// empty line, exactly: one that completes in the read that crosses the limit is too large.
    package static func scan(_ buffer: ByteBuffer, searchedBytes: Int = 0, limit: Int) -> Scan {
        buffer.withUnsafeReadableBytes { raw in
            var index = max(0, searchedBytes)
            while index < raw.count, let lf = Parser.find(UInt8(ascii: "\n"), in: raw, from: index) {
                guard lf > 0, raw[lf - 1] == UInt8(ascii: "\r") else { return .bareLineFeed }
                if lf >= 3, raw[lf - 2] == UInt8(ascii: "\n"), raw[lf - 3] == UInt8(ascii: "\r") {
                    return lf + 1 > limit ? .tooLarge : .complete(end: lf + 1)
                }
                index = lf + 1
            }
            return raw.count >= limit ? .tooLarge : .incomplete(searched: raw.count)
        }
    }

    /// Parses a complete head (as `endOfHead` delimits it).
    package init(parsing bytes: ByteBuffer, kind: Kind) throws(ParseError) {
        self.bytes = bytes
        self.kind = kind
        let result: Result<Void, ParseError> = bytes.withUnsafeReadableBytes { raw in
            Result { () throws(ParseError) in try Parser.parse(raw, kind: kind, into: &self) }
        }
        try result.get()
    }

}

extension HTTPHead {
    /// One pass over the head's bytes.
    enum Parser {
        static func parse(_ raw: UnsafeRawBufferPointer, kind: Kind, into head: inout HTTPHead) throws(ParseError) {
            var index = 0
            var framing = Framing()
            let lineEnd = try Self.lineEnd(raw, from: 0)
            switch kind {
            case .request: try requestLine(raw, 0..<lineEnd, into: &head)
            case .response: try statusLine(raw, 0..<lineEnd, into: &head)
            }
            index = lineEnd + 2
            head.startLineEnd = index
            head.fields.reserveCapacity(16)
            while true {
                let end = try Self.lineEnd(raw, from: index)
                if end == index { break }
                if raw[index] == UInt8(ascii: " ") || raw[index] == UInt8(ascii: "\t") { throw .malformed("obsolete line folding") }
                try field(raw, index..<end, into: &head, framing: &framing)
                index = end + 2
                if head.fields.count > 500 { throw .malformed("more than 500 fields") }
            }
            guard index + 2 == raw.count else { throw .malformed("bytes after the head") }
            try framing.apply(to: &head)
            // `Connection` makes the fields it names hop-by-hop, so a proxy would drop them; but
            // the framing fields say where this very message ends, and the body passes as it
            // came. Dropping `Transfer-Encoding` while forwarding chunks smuggles a request.
            if head.connectionOptions.contains(where: { $0 == "transfer-encoding" || $0 == "content-length" }) {
                throw .framingFieldNamedByConnection
            }
        }

        /// What the fields say about where the body ends.
        struct Framing {
            var length: Int64?
            var codings = 0

            mutating func contentLength(_ value: Slice<UnsafeRawBufferPointer>) throws(ParseError) {
                // Repeated or listed values must all agree (RFC 9112 §6.3).
                try forEachListItem(value) { item throws(ParseError) in
                    let digits = trimmed(item)
                    guard (1...18).contains(digits.count), digits.allSatisfy(ASCII.isDigit) else { throw .malformed("invalid Content-Length") }
                    let number = digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
                    if let length, length != number { throw .conflictingFraming }
                    length = number
                }
            }

            mutating func transferEncoding(_ value: Slice<UnsafeRawBufferPointer>) throws(ParseError) {
                codings += 1
                guard codings == 1, ASCII.equalsIgnoringCase(value, "chunked") else { throw .unsupportedTransferCoding }
            }

            func apply(to head: inout HTTPHead) throws(ParseError) {
                head.isChunked = codings == 1
                guard head.isChunked else {
                    head.contentLength = length
                    return
                }
                // A request with both is how smuggling starts; a response's length yields to the coding.
                if head.kind == .request, length != nil { throw .conflictingFraming }
                if head.minorVersion == 0 { throw .unsupportedTransferCoding }
                head.contentLength = nil
            }
        }

        /// Calls `body` with each comma-separated item of `value`, empty ones included (a split
        /// without the array it would allocate on every call).
        static func forEachListItem<Failure: Error>(
            _ value: Slice<UnsafeRawBufferPointer>, _ body: (Slice<UnsafeRawBufferPointer>) throws(Failure) -> Void
        ) throws(Failure) {
            var start = value.startIndex
            while true {
                let end = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
                try body(value[start..<end])
                guard end < value.endIndex else { return }
                start = end + 1
            }
        }

        static func trimmed<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> C.SubSequence {
            var start = bytes.startIndex
            var end = bytes.endIndex
            while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start = bytes.index(after: start) }
            while end > start, bytes[bytes.index(before: end)] == UInt8(ascii: " ") || bytes[bytes.index(before: end)] == UInt8(ascii: "\t") {
                end = bytes.index(before: end)
            }
            return bytes[start..<end]
        }

        /// The index of the CR of the CRLF that ends the line starting at `start`.
        /// A CR elsewhere in a line is refused by the checks of what the line holds.
        static func lineEnd(_ raw: UnsafeRawBufferPointer, from start: Int) throws(ParseError) -> Int {
            guard let lf = find(UInt8(ascii: "\n"), in: raw, from: start) else { throw .malformed("unterminated line") }
            guard lf > start, raw[lf - 1] == UInt8(ascii: "\r") else { throw .malformed("LF without CR") }
            return lf - 1
        }

        /// The index of the first `byte` at or after `start` (libc's `memchr`: heads are scanned per call).
        static func find(_ byte: UInt8, in raw: UnsafeRawBufferPointer, from start: Int) -> Int? {
            guard start < raw.count, let base = raw.baseAddress, let found = memchr(base + start, Int32(byte), raw.count - start) else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }

        static func requestLine(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>, into head: inout HTTPHead) throws(ParseError) {
            var index = line.lowerBound
            while index < line.upperBound, isTokenCharacter(raw[index]) { index += 1 }
            guard index > line.lowerBound, index < line.upperBound, raw[index] == UInt8(ascii: " ") else { throw .malformed("invalid method") }
            head.methodRange = line.lowerBound..<index
            index += 1
            let targetStart = index
            guard let targetEnd = find(UInt8(ascii: " "), in: raw, from: index), targetEnd < line.upperBound, targetEnd > targetStart,
                allVisibleASCII(raw, targetStart..<targetEnd)
            else { throw .malformed("invalid request-target") }
            index = targetEnd
            head.targetRange = targetStart..<index
            index += 1
            guard line.upperBound - index == 8 else { throw .malformed("invalid HTTP version") }
            head.minorVersion = try version(raw, index)
        }

        static func statusLine(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>, into head: inout HTTPHead) throws(ParseError) {
            guard line.count >= 12 else { throw .malformed("invalid status line") }
            head.minorVersion = try version(raw, line.lowerBound)
            let codeStart = line.lowerBound + 9
            guard raw[codeStart - 1] == UInt8(ascii: " "), (codeStart..<codeStart + 3).allSatisfy({ ASCII.isDigit(raw[$0]) }) else {
                throw .malformed("invalid status code")
            }
            head.status = (codeStart..<codeStart + 3).reduce(0) { $0 * 10 + Int(raw[$1] - UInt8(ascii: "0")) }
            guard head.status >= 100 else { throw .malformed("invalid status code") }
            var reasonStart = codeStart + 3
            if reasonStart < line.upperBound {
                guard raw[reasonStart] == UInt8(ascii: " ") else { throw .malformed("invalid status line") }
                reasonStart += 1
                guard allFieldValueCharacters(raw, reasonStart..<line.upperBound) else { throw .malformed("invalid reason phrase") }
            }
            head.reasonRange = reasonStart..<line.upperBound
        }

        /// `HTTP/1.0` or `HTTP/1.1` at `start`; the minor version.
        static func version(_ raw: UnsafeRawBufferPointer, _ start: Int) throws(ParseError) -> Int {
            let prefix: StaticString = "HTTP/1."
            let matches = prefix.withUTF8Buffer { expected in raw[start..<start + 7].elementsEqual(expected) }
            let minor = raw[start + 7]
            guard matches, minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else {
                if raw[start..<start + 5].elementsEqual("HTTP/".utf8) { throw .unsupportedVersion }
                throw .malformed("invalid HTTP version")
            }
            return Int(minor - UInt8(ascii: "0"))
        }

        static func field(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>, into head: inout HTTPHead, framing: inout Framing) throws(ParseError) {
            var index = line.lowerBound
            while index < line.upperBound, isTokenCharacter(raw[index]) { index += 1 }
            guard index > line.lowerBound, index < line.upperBound, raw[index] == UInt8(ascii: ":") else { throw .malformed("invalid field name") }
            let nameRange = line.lowerBound..<index
            index += 1
            while index < line.upperBound, raw[index] == UInt8(ascii: " ") || raw[index] == UInt8(ascii: "\t") { index += 1 }
            var valueEnd = line.upperBound
            while valueEnd > index, raw[valueEnd - 1] == UInt8(ascii: " ") || raw[valueEnd - 1] == UInt8(ascii: "\t") { valueEnd -= 1 }
            guard allFieldValueCharacters(raw, index..<valueEnd) else { throw .malformed("invalid field value") }
            let name = fieldName(UnsafeRawBufferPointer(rebasing: raw[nameRange]))
            let field = Field(name: name, nameRange: nameRange, valueRange: index..<valueEnd, lineRange: line.lowerBound..<line.upperBound + 2)
            head.fields.append(field)
            switch name {
            case .connection: connectionTokens(raw, field.valueRange, into: &head)
            case .contentLength: try framing.contentLength(raw[field.valueRange])
            case .transferEncoding: try framing.transferEncoding(raw[field.valueRange])
            case .underscoredFraming: throw .malformed("framing field name with an underscore")
            default: break
            }
        }

        static func connectionTokens(_ raw: UnsafeRawBufferPointer, _ value: Range<Int>, into head: inout HTTPHead) {
            forEachListItem(raw[value]) { token in
                let trimmed = trimmed(token)
                if ASCII.equalsIgnoringCase(trimmed, "close") {
                    head.hasConnectionClose = true
                } else if ASCII.equalsIgnoringCase(trimmed, "keep-alive") {
                    head.hasConnectionKeepAlive = true
                } else if !trimmed.isEmpty {
                    head.connectionOptions.append(String(decoding: trimmed.map(ASCII.lowercase), as: UTF8.self))
                }
            }
        }

        /// Decided by length first: most names compare with nothing.
        static func fieldName(_ name: UnsafeRawBufferPointer) -> FieldName {
            func `is`(_ lowercased: StaticString) -> Bool { ASCII.equalsIgnoringCase(name, lowercased) }
            switch name.count {
            case 2: return `is`("te") ? .te : .other
            case 4: return `is`("host") ? .host : .other
            case 6: return `is`("expect") ? .expect : .other
            case 7: return `is`("trailer") ? .trailer : `is`("upgrade") ? .upgrade : .other
            case 9: return `is`("forwarded") ? .forwarded : .other
            case 10: return `is`("connection") ? .connection : `is`("keep-alive") ? .keepAlive : .other
            case 14: return `is`("content-length") ? .contentLength : `is`("content_length") ? .underscoredFraming : .other
            case 15: return `is`("x-forwarded-for") ? .xForwardedFor : .other
            case 16: return `is`("proxy-connection") ? .proxyConnection : .other
            case 17:
                return `is`("transfer-encoding")
                    ? .transferEncoding : `is`("direktiv-deadline") ? .direktivDeadline : `is`("transfer_encoding") ? .underscoredFraming : .other
            case 18: return `is`("proxy-authenticate") ? .proxyAuthenticate : .other
            case 19: return `is`("proxy-authorization") ? .proxyAuthorization : .other
            default: return .other
            }
        }
    }
}
