import DispatchAgent
import DispatchCore
import DispatchMetrics
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import DispatchPrometheus
@testable import DispatchProxy

@Suite struct ProxyHeadersTests {
    let target = ProxyTarget(function: "fn", namespace: "ns", host: "fn.ns", pathAndQuery: "/up?x=1")

    func head(_ text: String, _ kind: HTTPHead.Kind = .request) throws -> HTTPHead {
        try HTTPHead(parsing: ByteBuffer(string: text), kind: kind)
    }

    func upstream(_ text: String, client: String? = "10.1.2.3") throws -> String {
        var buffer = ByteBuffer()
        ProxyHeaders.writeUpstreamHead(try head(text), target: target, client: client, into: &buffer)
        return String(buffer: buffer)
    }

    @Test func hopByHopAndConnectionNamedHeadersStayBehind() throws {
        let sent =
            "POST http://fn.ns/ HTTP/1.1\r\nHost: fn.ns\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
            + "Proxy-Authorization: Basic x\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
            + "Direktiv-Files: a\r\nDirektiv-Files: b\r\ntraceparent: 00-1-2-01\r\nDirektiv-ActionID: x\r\n\r\n"
        #expect(
            try upstream(sent) == "POST /up?x=1 HTTP/1.1\r\nContent-Length: 2\r\nDirektiv-Files: a\r\nDirektiv-Files: b\r\ntraceparent: 00-1-2-01\r\n"
                + "Direktiv-ActionID: x\r\nHost: fn.ns\r\nX-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;host=fn.ns;proto=http\r\n\r\n")
    }

    @Test func forwardingRecordsAppend() throws {
        let sent = "GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nForwarded: for=1.1.1.1\r\n\r\n"
        #expect(
            try upstream(sent, client: "::1").hasSuffix(
                "X-Forwarded-For: 1.1.1.1, ::1\r\nForwarded: for=1.1.1.1, for=\"[::1]\";host=fn.ns;proto=http\r\n\r\n"))
        #expect(try upstream(sent, client: nil).hasSuffix("Host: fn.ns\r\nX-Forwarded-For: 1.1.1.1\r\nForwarded: for=1.1.1.1\r\n\r\n"))
    }

    @Test func aChunkedBodyStaysChunkedAndAListedLengthBecomesOne() throws {
        #expect(try upstream("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").contains("\r\nTransfer-Encoding: chunked\r\n"))
        let listed = try upstream("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n")
        #expect(listed.components(separatedBy: "Content-Length").count == 2 && listed.contains("Content-Length: 5\r\n"))
    }

    @Test func responsesKeepContentLengthAndDirektivHeaders() throws {
        let answer = try head(
            "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nDirektiv-ErrorCode: io.x\r\nDirektiv-ErrorMessage: m\r\n\r\n",
            .response)
        var buffer = ByteBuffer()
        ProxyHeaders.writeDownstreamHead(answer, framing: .init(callerMinorVersion: 1, close: false, dechunked: false), into: &buffer)
        #expect(String(buffer: buffer) == "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nDirektiv-ErrorCode: io.x\r\nDirektiv-ErrorMessage: m\r\n\r\n")
        // An HTTP/1.0 caller gets the data without chunks and learns the end from the close.
        let chunked = try head("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n", .response)
        buffer.clear()
        ProxyHeaders.writeDownstreamHead(chunked, framing: .init(callerMinorVersion: 0, close: true, dechunked: true), into: &buffer)
        #expect(String(buffer: buffer) == "HTTP/1.0 201 Created\r\nConnection: close\r\n\r\n")
        // No reason phrase still has the space before it; lines around a dropped one stay in order.
        let bare = try head("HTTP/1.1 204\r\nA: 1\r\nConnection: close\r\nB: 2\r\nC: 3\r\n\r\n", .response)
        buffer.clear()
        ProxyHeaders.writeDownstreamHead(bare, framing: .init(callerMinorVersion: 1, close: false, dechunked: false), into: &buffer)
        #expect(String(buffer: buffer) == "HTTP/1.1 204 \r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
    }
}
