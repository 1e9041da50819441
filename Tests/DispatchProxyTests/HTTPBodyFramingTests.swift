import DispatchAgent
import DispatchMetrics
import NIOCore
import Testing

@testable import DispatchProxy

@Suite struct HTTPBodyFramingTests {
    /// Feeds `input` in pieces of `step` bytes; the message's bytes, its chunk data and what follows it.
    func feed(
        _ framing: inout HTTPBodyFraming, _ input: String, step: Int
    ) throws(HTTPBodyFraming.FramingError) -> (message: String, data: String, rest: String, ended: Bool) {
        var message = ""
        var data = ""
        var rest = ""
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
        "g\r\n", "\r\n", "5\r\nhelloX\r\n", "5\nhello\r\n", "5\r\nhello\r\r", "1000000000000000\r\n", "5;\u{01}\r\n", "0\r\nBad\u{01}\r\n\r\n",
        "0\r\n\rX",
    ])
    func brokenChunkFramingIsRefused(body: String) {
        var framing = HTTPBodyFraming(.chunked)
        #expect(throws: HTTPBodyFraming.FramingError.self, "\(body.debugDescription)") { _ = try feed(&framing, body + "0\r\n\r\n", step: 3) }
    }

    /// Defect 5: anything after the hex digits was taken as an extension (`0x5` read as size 0
    /// while a lenient function reads 5 bytes), and trailer lines needed no colon. RFC 9112 §7.1
    /// exactly: chunk-size = 1*HEXDIG, then `BWS ; BWS token [BWS = BWS (token / quoted-string)]`.
    @Test(arguments: [
        "0x5\r\nhello\r\n", "5 \r\nhello\r\n", "5 x\r\nhello\r\n", "5;\r\nhello\r\n", "5;=v\r\nhello\r\n", "5;a=\r\nhello\r\n",
        "5;a b\r\nhello\r\n", "5;a=b c\r\nhello\r\n", "5;a=\"x\r\nhello\r\n", "5;a=\"x\"y\r\nhello\r\n", "5;a=b \r\nhello\r\n",
        "5;a \r\nhello\r\n", "+5\r\nhello\r\n", "-5\r\nhello\r\n", "5\r\nhello\r\n0\r\nNoColon\r\n\r\n", "5\r\nhello\r\n0\r\n Folded: x\r\n\r\n",
        "5\r\nhello\r\n0\r\n: empty-name\r\n\r\n", "5\r\nhello\r\n0\r\nBad Name: x\r\n\r\n", "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",
        "5\r\nhello\r\n0\r\nTRANSFER-ENCODING: chunked\r\n\r\n", "5\r\nhello\r\n0\r\nHost: elsewhere\r\n\r\n",
        // CGI and WSGI servers read `_` as `-`, so these are framing fields to them.
        "5\r\nhello\r\n0\r\nContent_Length: 5\r\n\r\n", "5\r\nhello\r\n0\r\ntransfer_encoding: chunked\r\n\r\n",
    ])
    func looseChunkSyntaxIsRefused(body: String) {
        var framing = HTTPBodyFraming(.chunked)
        #expect(throws: HTTPBodyFraming.FramingError.self, "\(body.debugDescription)") { _ = try feed(&framing, body + "0\r\n\r\n", step: 2) }
    }

    @Test(arguments: [
        "5;a\r\nhello\r\n", "5 ;a\r\nhello\r\n", "5\t; a = b ;c\r\nhello\r\n", "5;a=\"q \\\" ;\"\r\nhello\r\n", "5;a=\"\" ;b\r\nhello\r\n",
        "005\r\nhello\r\n", "5\r\nhello\r\n000;end\r\nT-1: v\r\nT-2:\r\n",
    ])
    func chunkExtensionsAndTrailersOfTheGrammarPass(body: String) throws {
        var framing = HTTPBodyFraming(.chunked)
        let ending = body.hasSuffix(":\r\n") ? "\r\n" : "0\r\n\r\n"
        let result = try feed(&framing, body + ending, step: 2)
        #expect(result.ended && result.data == "hello", "\(body.debugDescription)")
    }

    /// Defect 4: only these may be sent again after a pooled connection closed unanswered.
    @Test(arguments: [
        ("GET", true), ("HEAD", true), ("PUT", true), ("DELETE", true), ("OPTIONS", true), ("TRACE", true), ("POST", false), ("PATCH", false),
        ("get", false), ("CONNECT", false),
    ])
    func idempotentMethodsAreThoseOfRFC9110(method: String, idempotent: Bool) throws {
        let head = try HTTPHead(parsing: ByteBuffer(string: "\(method) / HTTP/1.1\r\nHost: a\r\n\r\n"), kind: .request)
        #expect(head.hasIdempotentMethod == idempotent)
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
