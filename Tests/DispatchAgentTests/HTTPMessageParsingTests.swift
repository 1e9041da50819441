import DispatchAgent
import NIOCore
import Testing

/// The proxy's own HTTP/1.1 parsing: heads kept as bytes, bodies delimited as they stream.
/// Strictness is the point: a proxy that reads a message differently from the peer behind it
/// can be made to smuggle requests.
@Suite struct HTTPHeadTests {
    func parse(_ text: String, _ kind: HTTPHead.Kind = .request) throws(HTTPHead.ParseError) -> HTTPHead {
        try HTTPHead(parsing: ByteBuffer(string: text), kind: kind)
    }

    func refusal(_ text: String, _ kind: HTTPHead.Kind = .request) -> HTTPHead.ParseError? {
        do {
            _ = try parse(text, kind)
            return nil
        } catch {
            return error
        }
    }

    @Test func aDirektivCallIsReadAsItCame() throws {
        let head = try parse(
            "POST http://fn.ns/ HTTP/1.1\r\nHost: fn.ns\r\nDirektiv-ActionID: a1\r\nDirektiv-Files: a\r\nDirektiv-Files: b\r\nContent-Length: 17\r\nDirektiv-Deadline: 2099-01-01T00:00:00Z\r\n\r\n")
        #expect(head.method == "POST" && head.methodIs("POST") && !head.methodIs("GET"))
        #expect(head.target == "http://fn.ns/")
        #expect(head.minorVersion == 1 && head.isKeepAlive)
        #expect(head.contentLength == 17 && !head.isChunked)
        #expect(head.fields.map(\.name) == [.host, .other, .other, .other, .contentLength, .direktivDeadline])
        #expect(head.fields.map { head.string($0.valueRange) } == ["fn.ns", "a1", "a", "b", "17", "2099-01-01T00:00:00Z"])
        #expect(head.string(head.fields[1].lineRange) == "Direktiv-ActionID: a1\r\n")
        #expect(head.value(.direktivDeadline) == "2099-01-01T00:00:00Z")
    }

    @Test func theEndOfAHeadIsFoundAcrossReads() {
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n")
        #expect(HTTPHead.endOfHead(in: buffer) == nil)
        let searched = buffer.readableBytes
        buffer.writeString("\r\nBODY")
        #expect(HTTPHead.endOfHead(in: buffer, searchedBytes: searched - 3) == searched + 2)
    }

    @Test func connectionOptionsDecideKeepAliveAndNameHopByHopFields() throws {
        let options = try parse("GET / HTTP/1.1\r\nConnection: keep-alive, X-Hop ,Upgrade\r\n\r\n")
        #expect(options.isKeepAlive && options.connectionOptions == ["x-hop", "upgrade"])
        #expect(try !parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").isKeepAlive)
        #expect(try !parse("GET / HTTP/1.0\r\n\r\n").isKeepAlive)
        #expect(try parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").isKeepAlive)
    }

    @Test func responsesAreRead() throws {
        let ok = try parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", .response)
        #expect(ok.status == 200 && ok.string(ok.reasonRange) == "OK" && ok.contentLength == 2)
        let bare = try parse("HTTP/1.1 204\r\n\r\n", .response)
        #expect(bare.status == 204 && bare.reasonRange.isEmpty)
        // A response's coding wins over its length (RFC 9112 §6.3); the length is not used.
        let both = try parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", .response)
        #expect(both.isChunked && both.contentLength == nil)
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n", .response).contentLength == 7)
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\nHost: x\n\n", "LF without CR"),
        ("GET / HTTP/1.1\r\nHost: x\r\n  folded\r\n\r\n", "obsolete line folding"),
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", "invalid field name"),
        ("GET / HTTP/1.1\r\nX-A: a\u{01}b\r\n\r\n", "invalid field value"),
        ("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", "invalid field value"),
        ("GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n", "invalid field value"),
        ("GET /\r HTTP/1.1\r\n\r\n", "invalid request-target"),
        ("G(T / HTTP/1.1\r\n\r\n", "invalid method"),
        ("GET /a b HTTP/1.1\r\n\r\n", "invalid HTTP version"),
        ("GET / HTTP/1.1x\r\n\r\n", "invalid HTTP version"),
        ("GET / HTTP/1.1\r\n: empty\r\n\r\n", "invalid field name"),
        ("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "invalid Content-Length"),
        ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
        ("POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", "invalid Content-Length"),
    ])
    func malformedHeadsAreRefused(text: String, why: String) {
        #expect(refusal(text) == .malformed(why), "\(text.debugDescription)")
    }

    @Test func framingConflictsAndCodingsAreRefused() {
        #expect(refusal("GET / HTTP/2.0\r\n\r\n") == .unsupportedVersion)
        #expect(refusal("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == .conflictingFraming)
        #expect(refusal("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == .conflictingFraming)
        #expect(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == .unsupportedTransferCoding)
        #expect(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == .unsupportedTransferCoding)
        #expect(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == .unsupportedTransferCoding)
        #expect(refusal("HTTP/1.1 99 Odd\r\n\r\n", .response) == .malformed("invalid status code"))
        #expect(refusal("HTTP/1.1 200 OK\r\n\r\nextra", .response) == .malformed("bytes after the head"))
    }
}

@Suite struct HTTPBodyFramingTests {
    /// Feeds `input` in pieces of `step` bytes; the message's bytes, its chunk data and what follows it.
    func feed(_ framing: inout HTTPBodyFraming, _ input: String, step: Int) throws(HTTPBodyFraming.FramingError) -> (message: String, data: String, rest: String, ended: Bool) {
        var message = "", data = "", rest = ""
        var ended = false
        var bytes = Array(input.utf8)[...]
        while !bytes.isEmpty {
            var piece = ByteBuffer(bytes: bytes.prefix(step))
            bytes = bytes.dropFirst(step)
            if ended {
                rest += String(buffer: piece)
                continue
            }
            let consumed = try framing.consume(&piece) { data += String(buffer: $0) }
            message += String(buffer: consumed.message)
            ended = consumed.ended
            rest += String(buffer: piece)
        }
        return (message, data, rest, ended)
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func aChunkedBodyEndsAfterItsLastChunkAndTrailers(step: Int) throws {
        let body = "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer-A: x\r\n\r\n"
        var framing = HTTPBodyFraming(.chunked)
        let result = try feed(&framing, body + "GET /next", step: step)
        #expect(result.message == body)
        #expect(result.data == "helloabcdefghijklmnopqrstuvwxyz")
        #expect(result.rest == "GET /next")
        #expect(result.ended && framing.isComplete)
    }

    @Test(arguments: [
        "g\r\n", "\r\n", "5\r\nhelloX\r\n", "5\nhello\r\n", "5\r\nhello\r\r", "1000000000000000\r\n", "5;\u{01}\r\n", "0\r\nBad\u{01}\r\n\r\n", "0\r\n\rX",
    ])
    func brokenChunkFramingIsRefused(body: String) {
        var framing = HTTPBodyFraming(.chunked)
        #expect(throws: HTTPBodyFraming.FramingError.self, "\(body.debugDescription)") { _ = try feed(&framing, body + "0\r\n\r\n", step: 3) }
    }

    @Test func aLengthEndsTheBodyAndLeavesTheRest() throws {
        var framing = HTTPBodyFraming(.length(10))
        let result = try feed(&framing, "0123456789NEXT", step: 4)
        #expect(result.message == "0123456789" && result.rest == "NEXT" && result.ended)
        var short = HTTPBodyFraming(.length(10))
        _ = try feed(&short, "01234", step: 5)
        #expect(short.remainingLength == 5)
        #expect(short.inputClosed() == false, "a closed connection before the length is a truncated body")
    }

    @Test func aResponseWithoutLengthEndsWithTheConnection() throws {
        var framing = HTTPBodyFraming(.untilClose)
        let result = try feed(&framing, "all of it", step: 4)
        #expect(result.message == "all of it" && !result.ended)
        #expect(framing.inputClosed() == true)
        #expect(framing.isComplete)
    }

    @Test func responsesWithoutBodiesAreKnownFromTheirStatusAndRequest() throws {
        let ok = try HTTPHead(parsing: ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), kind: .response)
        #expect(!HTTPBodyFraming(head: ok).isComplete)
        #expect(HTTPBodyFraming(head: ok, requestMethodIsHEAD: true).isComplete)
        let notModified = try HTTPHead(parsing: ByteBuffer(string: "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"), kind: .response)
        #expect(HTTPBodyFraming(head: notModified).isComplete)
        let unframed = try HTTPHead(parsing: ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"), kind: .response)
        var untilClose = HTTPBodyFraming(head: unframed)
        #expect(!untilClose.isComplete)
        #expect(untilClose.inputClosed() == true)
        let request = try HTTPHead(parsing: ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), kind: .request)
        #expect(HTTPBodyFraming(head: request).isComplete, "a request without length or coding has no body")
    }
}
