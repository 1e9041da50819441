import NIOCore
import NIOHTTP1

/// Which header fields cross the proxy, written straight from the parsed head's bytes.
///
/// Hop-by-hop fields (RFC 9110 §7.6.1), those `Connection` names, and proxy credentials stay
/// behind; every end-to-end field passes unchanged and in order, repeated ones included
/// (`Direktiv-Files`, trace context). The request gains `X-Forwarded-For` and `Forwarded`. The
/// framing fields pass as they were checked (`HTTPHead`), since the body passes as it came.
package enum ProxyHeaders {
    static func isHopByHop(_ name: HTTPHead.FieldName) -> Bool {
        switch name {
        case .connection, .keepAlive, .proxyConnection, .proxyAuthenticate, .proxyAuthorization, .te, .trailer, .upgrade: true
        case .other, .transferEncoding, .host, .contentLength, .expect, .xForwardedFor, .forwarded, .direktivDeadline, .underscoredFraming: false
        }
    }

    /// Whether a field is one that `Connection` names.
    static func isNamedByConnection(_ field: HTTPHead.Field, in head: HTTPHead) -> Bool {
        guard !head.connectionOptions.isEmpty else { return false }
        let name = head.string(field.nameRange)
        return head.connectionOptions.contains { ASCII.equalsIgnoringCase(name.utf8, lowercasedBytes: $0.utf8) }
    }

    /// The request head the function receives: the caller's method, the target's path, HTTP/1.1,
    /// the end-to-end fields as they came, then `Host` and the forwarding record.
    package static func writeUpstreamHead(_ head: HTTPHead, target: ProxyTarget, client: String?, into buffer: inout ByteBuffer) {
        writeUpstreamHead(head, target: target, added: AddedFields(host: target.host, client: client), into: &buffer)
    }

    /// The request head the function receives, with `added` made for `target`'s host.
    static func writeUpstreamHead(_ head: HTTPHead, target: ProxyTarget, added: AddedFields, into buffer: inout ByteBuffer) {
        write(head.methodRange, of: head.bytes, into: &buffer)
        buffer.writeStaticString(" ")
        buffer.writeString(target.pathAndQuery)
        buffer.writeStaticString(" HTTP/1.1\r\n")
        var previousForwardedFor: [String] = []
        var previousForwarded: [String] = []
        var lengthWritten = false
        var kept = KeptLines(bytes: head.bytes)
        for field in head.fields {
            switch field.name {
            case .host, .expect:
                // `Host` names the function below; `Expect` was answered by the proxy.
                continue
            case .xForwardedFor:
                previousForwardedFor.append(head.string(field.valueRange))
                continue
            case .forwarded:
                previousForwarded.append(head.string(field.valueRange))
                continue
            case .contentLength:
                // One value, however the caller listed it; a plain number passes as it came.
                guard !lengthWritten, let length = head.contentLength else { continue }
                lengthWritten = true
                if isPlainNumber(field.valueRange, in: head.bytes) { break }
                kept.write(into: &buffer)
                buffer.writeStaticString("Content-Length: ")
                buffer.writeString(String(length))
                buffer.writeStaticString("\r\n")
                continue
            default:
                if isHopByHop(field.name) || isNamedByConnection(field, in: head) { continue }
            }
            kept.keep(field.lineRange, into: &buffer)
        }
        kept.write(into: &buffer)
        if previousForwardedFor.isEmpty, previousForwarded.isEmpty {
            buffer.writeImmutableBuffer(added.bytes)
        } else {
            AddedFields.write(
                host: target.host, client: added.client, previousForwardedFor: previousForwardedFor, previousForwarded: previousForwarded,
                into: &buffer)
        }
        buffer.writeStaticString("\r\n")
    }

    /// The fields the proxy adds to a request (`Host`, `X-Forwarded-For`, `Forwarded`) for one
    /// function host and caller, written once: a caller's connection sends call after call to
    /// the same few functions, and most requests bring no forwarding fields of their own.
    struct AddedFields {
        let host: String
        let client: String?
        /// The fields as they are sent when the request has no forwarding fields.
        let bytes: ByteBuffer

        init(host: String, client: String?) {
            self.host = host
            self.client = client
            var bytes = ByteBuffer()
            Self.write(host: host, client: client, previousForwardedFor: [], previousForwarded: [], into: &bytes)
            self.bytes = bytes
        }

        /// The fields, after the forwarding values the request brought.
        static func write(host: String, client: String?, previousForwardedFor: [String], previousForwarded: [String], into buffer: inout ByteBuffer) {
            buffer.writeStaticString("Host: ")
            buffer.writeString(host)
            buffer.writeStaticString("\r\n")
            guard let client else {
                for value in previousForwardedFor { line("X-Forwarded-For", value, into: &buffer) }
                for value in previousForwarded { line("Forwarded", value, into: &buffer) }
                return
            }
            buffer.writeStaticString("X-Forwarded-For: ")
            for value in previousForwardedFor {
                buffer.writeString(value)
                buffer.writeStaticString(", ")
            }
            buffer.writeString(client)
            buffer.writeStaticString("\r\nForwarded: ")
            for value in previousForwarded {
                buffer.writeString(value)
                buffer.writeStaticString(", ")
            }
            buffer.writeStaticString("for=")
            if client.utf8.contains(UInt8(ascii: ":")) {
                buffer.writeStaticString("\"[")
                buffer.writeString(client)
                buffer.writeStaticString("]\"")
            } else {
                buffer.writeString(client)
            }
            buffer.writeStaticString(";host=")
            buffer.writeString(host)
            buffer.writeStaticString(";proto=http\r\n")
        }
    }

    /// Whether the value at `range` is digits only (not a list).
    private static func isPlainNumber(_ range: Range<Int>, in bytes: ByteBuffer) -> Bool {
        bytes.withUnsafeReadableBytes { raw in raw[range].allSatisfy(ASCII.isDigit) }
    }

    /// How the caller's copy of the answer is framed.
    package struct ResponseFraming: Sendable, Hashable {
        /// The caller's HTTP minor version: the status line says it.
        package var callerMinorVersion: Int
        /// The connection ends after this answer: the head says `Connection: close`.
        package var close: Bool
        /// The body reaches the caller without its chunk framing (an HTTP/1.0 caller).
        package var dechunked: Bool

        package init(callerMinorVersion: Int, close: Bool, dechunked: Bool) {
            self.callerMinorVersion = callerMinorVersion
            self.close = close
            self.dechunked = dechunked
        }
    }

    /// The response head the caller receives: the function's status and end-to-end fields,
    /// `Content-Length` kept.
    package static func writeDownstreamHead(_ head: HTTPHead, framing: ResponseFraming, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(framing.callerMinorVersion == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        // The status code, reason and CRLF as the function sent them, after `HTTP/1.x `; the
        // space before the reason is required even when there is none (RFC 9112 §4).
        let code = 9..<12
        if head.reasonRange.lowerBound > code.upperBound {
            write(code.lowerBound..<head.startLineEnd, of: head.bytes, into: &buffer)
        } else {
            write(code, of: head.bytes, into: &buffer)
            buffer.writeStaticString(" \r\n")
        }
        var kept = KeptLines(bytes: head.bytes)
        for field in head.fields {
            switch field.name {
            case .transferEncoding where framing.dechunked:
                continue
            case .contentLength where head.isChunked:
                // The coding won over the length; passing both would confuse the caller.
                continue
            default:
                if isHopByHop(field.name) || isNamedByConnection(field, in: head) { continue }
            }
            kept.keep(field.lineRange, into: &buffer)
        }
        kept.write(into: &buffer)
        if framing.close {
            buffer.writeStaticString("Connection: close\r\n")
        } else if framing.callerMinorVersion == 0 {
            buffer.writeStaticString("Connection: keep-alive\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    /// A response the proxy makes itself: a short text saying why.
    package static func writeOwnResponse(
        status: HTTPResponseStatus, text: String, minorVersion: Int, close: Bool, includeBody: Bool, into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString(minorVersion == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeString(String(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
        buffer.writeString(String(text.utf8.count + 1))
        buffer.writeStaticString(close ? "\r\nConnection: close\r\n\r\n" : minorVersion == 0 ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\n\r\n")
        if includeBody {
            buffer.writeString(text)
            buffer.writeStaticString("\n")
        }
    }

    /// Writes `range` of a head's `bytes` (offsets from their reader index).
    static func write(_ range: Range<Int>, of bytes: ByteBuffer, into buffer: inout ByteBuffer) {
        bytes.withUnsafeReadableBytes { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// Field lines that pass unchanged, copied one run of adjacent lines at a time: most lines
    /// pass, and each separate write costs more than the bytes it copies.
    struct KeptLines {
        /// The head's bytes.
        let bytes: ByteBuffer
        private var run: Range<Int>?

        init(bytes: ByteBuffer) {
            self.bytes = bytes
        }

        /// Keeps `line`; lines come in the head's order.
        mutating func keep(_ line: Range<Int>, into buffer: inout ByteBuffer) {
            if let current = run, current.upperBound == line.lowerBound {
                run = current.lowerBound..<line.upperBound
                return
            }
            write(into: &buffer)
            run = line
        }

        /// Writes the lines kept so far; call before writing anything else.
        mutating func write(into buffer: inout ByteBuffer) {
            guard let current = run else { return }
            run = nil
            ProxyHeaders.write(current, of: bytes, into: &buffer)
        }
    }

    private static func line(_ name: StaticString, _ value: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(value)
        buffer.writeStaticString("\r\n")
    }
}
