import DispatchAgent
import DispatchMetrics
import DispatchProxy
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The proxy's reading of a request against NIOHTTP1's (llhttp, as in Node.js).
///
/// Whatever the proxy accepts, it forwards with the same framing (`ProxyHeaders` keeps the
/// framing fields), so a function behind it that parses like llhttp must find the request
/// ending where the proxy found it, with the same body length. The only way out is for the
/// proxy to refuse: a stricter proxy is fine, a more lenient or a different one is smuggling.
enum DifferentialHTTPFuzzing {
    static func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let ours = proxyReading(bytes) else { return }
        let request = Array(bytes[..<ours.end])
        let theirs = llhttpReading(request)
        switch theirs {
        case .refused:
            // llhttp refuses some things the proxy accepts and then rewrites (two equal
            // Content-Length lines become one, a listed length becomes one number).
            return
        case .incomplete:
            throw FuzzFailure(
                "llhttp wants more bytes than the request the proxy read (\(ours.end) bytes, body \(ours.bodyLength)): \(String(decoding: request, as: UTF8.self).debugDescription)"
            )
        case .requests(let lengths):
            try require(
                lengths == [ours.bodyLength],
                "the proxy read one request with a body of \(ours.bodyLength) bytes, llhttp read bodies \(lengths): \(String(decoding: request, as: UTF8.self).debugDescription)"
            )
        }
    }

    struct Reading {
        var end: Int
        var bodyLength: Int
    }

    /// Where the proxy's first request ends and its body length; `nil` when the proxy refuses
    /// it or needs more bytes.
    static func proxyReading(_ bytes: [UInt8]) -> Reading? {
        let buffer = ByteBuffer(bytes: bytes)
        guard case .complete(let headEnd) = HTTPHead.scan(buffer, limit: 64 * 1024),
            let head = try? HTTPHead(parsing: ByteBuffer(bytes: bytes[..<headEnd]), kind: .request)
        else { return nil }
        var framing = HTTPBodyFraming(head: head)
        if framing.isComplete { return Reading(end: headEnd, bodyLength: 0) }
        var rest = ByteBuffer(bytes: bytes[headEnd...])
        var bodyLength = 0
        let chunked = head.isChunked
        guard let consumed = try? framing.consume(&rest, chunkData: { bodyLength += $0.readableBytes }), consumed.ended else { return nil }
        if !chunked { bodyLength = consumed.message.readableBytes }
        return Reading(end: headEnd + consumed.message.readableBytes, bodyLength: bodyLength)
    }

    enum LLHTTPReading: Equatable {
        case refused
        case incomplete
        /// The body length of each complete request.
        case requests([Int])
    }

    static func llhttpReading(_ bytes: [UInt8]) -> LLHTTPReading {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        do {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        } catch {
            return .refused
        }
        var lengths: [Int] = []
        var current: Int?
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head: current = 0
            case .body(let buffer): current = (current ?? 0) + buffer.readableBytes
            case .end:
                lengths.append(current ?? 0)
                current = nil
            }
        }
        if current != nil || lengths.isEmpty { return .incomplete }
        return .requests(lengths)
    }
}
