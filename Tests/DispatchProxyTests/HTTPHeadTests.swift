import DispatchAgent
import DispatchMetrics
import NIOCore
import Testing

@testable import DispatchProxy

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
            "POST http://fn.ns/ HTTP/1.1\r\nHost: fn.ns\r\nDirektiv-ActionID: a1\r\nDirektiv-Files: a\r\nDirektiv-Files: b\r\nContent-Length: 17\r\nDirektiv-Deadline: 2099-01-01T00:00:00Z\r\n\r\n"
        )
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
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r")
        let scan = HTTPHead.scan(buffer, limit: 1024)
        #expect(scan == .incomplete(searched: buffer.readableBytes))
        guard case .incomplete(let searched) = scan else { return }
        buffer.writeString("\nBODY")
        #expect(HTTPHead.scan(buffer, searchedBytes: searched, limit: 1024) == .complete(end: searched + 1))
    }

    /// Defect 6 of the hardening review: a head that completed in the read crossing the limit
    /// passed (100 and 120 KiB heads got through). The limit counts the whole head, exactly.
    @Test func theHeadLimitIsExactWhateverTheReadsAre() {
        let line = "GET / HTTP/1.1\r\nX: "
        let atLimit = line + String(repeating: "a", count: 100 - line.utf8.count - 4) + "\r\n\r\n"
        #expect(atLimit.utf8.count == 100)
        #expect(HTTPHead.scan(ByteBuffer(string: atLimit), limit: 100) == .complete(end: 100))
        #expect(HTTPHead.scan(ByteBuffer(string: atLimit), limit: 99) == .tooLarge, "one read holding the whole over-long head")
        let huge = line + String(repeating: "a", count: 120 * 1024) + "\r\n\r\n"
        #expect(HTTPHead.scan(ByteBuffer(string: huge), limit: 64 * 1024) == .tooLarge)
        #expect(HTTPHead.scan(ByteBuffer(string: String(repeating: "a", count: 99)), limit: 100) == .incomplete(searched: 99))
        #expect(HTTPHead.scan(ByteBuffer(string: String(repeating: "a", count: 100)), limit: 100) == .tooLarge, "no end yet and already at the limit")
    }

    /// Defect 7: a head with bare LF line ends waited for the idle timeout. It is refused as
    /// soon as the LF arrives, wherever it is.
    @Test func aBareLineFeedIsFoundAtOnce() {
        #expect(HTTPHead.scan(ByteBuffer(string: "GET / HTTP/1.1\nHost: x\n\n"), limit: 1024) == .bareLineFeed)
        #expect(HTTPHead.scan(ByteBuffer(string: "\n"), limit: 1024) == .bareLineFeed)
        #expect(HTTPHead.scan(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\n"), limit: 1024) == .bareLineFeed)
        var split = ByteBuffer(string: "GET / HTTP/1.1\r")
        #expect(HTTPHead.scan(split, limit: 1024) == .incomplete(searched: 15))
        split.writeString("\nX: y\n")
        #expect(HTTPHead.scan(split, searchedBytes: 15, limit: 1024) == .bareLineFeed)
    }

    /// Defect 1: `Connection: Transfer-Encoding` made the proxy drop the TE line while the
    /// chunks went on: the function read a body-less request, then the chunks as a second,
    /// smuggled one. Framing fields named by `Connection` are refused, in requests and answers.
    @Test func framingFieldsNamedByConnectionAreRefused() {
        for connection in ["Transfer-Encoding", "close, transfer-encoding", "TRANSFER-ENCODING ,keep-alive", "Content-Length"] {
            let framing = connection.lowercased().contains("content") ? "Content-Length: 5" : "Transfer-Encoding: chunked"
            #expect(throws: HTTPHead.ParseError.framingFieldNamedByConnection) {
                try parse("POST / HTTP/1.1\r\nHost: x\r\n\(framing)\r\nConnection: \(connection)\r\n\r\n")
            }
            #expect(throws: HTTPHead.ParseError.framingFieldNamedByConnection) {
                try HTTPHead(parsing: ByteBuffer(string: "HTTP/1.1 200 OK\r\nConnection: \(connection)\r\n\(framing)\r\n\r\n"), kind: .response)
            }
        }
        // Other options stay hop-by-hop fields, as before.
        #expect((try? parse("GET / HTTP/1.1\r\nConnection: X-Trace\r\n\r\n"))?.connectionOptions == ["x-trace"])
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
