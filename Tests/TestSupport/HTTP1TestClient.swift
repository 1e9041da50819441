import NIOCore
import NIOHTTP1
import NIOPosix

/// A response read completely.
public struct TestResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A plain HTTP/1.1 client connection that sends request-targets exactly as given, as Go's
/// client does through `HTTP_PROXY` (absolute form), which AsyncHTTPClient never does.
public struct HTTP1TestConnection {
    let inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>
    let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    var iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator

    /// Sends a request with a known body and reads the whole response.
    public mutating func request(
        _ method: HTTPMethod, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> TestResponse {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: HTTPHeaders(headers))
        if let body, !head.headers.contains(name: "content-length"), !head.headers.contains(name: "transfer-encoding") {
            head.headers.add(name: "content-length", value: String(body.count))
        }
        // The body goes out while the response is read: a server that echoes as it receives
        // (as the proxy in front of an echoing function does) would otherwise block on a full
        // socket buffer while this side blocks on writing.
        let writer = writer
        let upload = Task {
            try await writer.outbound.write(.head(head))
            if let body, !body.isEmpty { try await writer.send(ByteBuffer(bytes: body)) }
            try await writer.finish()
        }
        let response: TestResponse
        do {
            response = try await readResponse()
        } catch {
            upload.cancel()
            throw error
        }
        // A server that answers early may close before the rest is written; the answer counts.
        _ = await upload.result
        return response
    }

    /// Writes request parts; it can go to another task while this one reads the response.
    public var writer: HTTP1TestWriter { HTTP1TestWriter(outbound: outbound) }

    /// The next response head (skipping 1xx), leaving its body to `readBody`.
    public mutating func readHead() async throws -> HTTPResponseHead {
        while let part = try await iterator.next() {
            if case .head(let head) = part, head.status.code >= 200 { return head }
        }
        throw HarnessError("the connection closed before a response")
    }

    /// The next body chunk, or `nil` at the end of the response.
    public mutating func readChunk() async throws -> ByteBuffer? {
        while let part = try await iterator.next() {
            switch part {
            case .body(let buffer): return buffer
            case .end: return nil
            case .head: continue
            }
        }
        throw HarnessError("the connection closed inside a response")
    }

    public mutating func readResponse() async throws -> TestResponse {
        let head = try await readHead()
        var body: [UInt8] = []
        while let chunk = try await readChunk() { body += chunk.readableBytesView }
        return TestResponse(status: Int(head.status.code), headers: head.headers, body: body)
    }

    /// Whether the server closed the connection (the next read finds the end of the stream).
    public mutating func isClosedByPeer() async -> Bool {
        do { return try await iterator.next() == nil } catch { return true }
    }
}

/// The sending half of a test connection.
public struct HTTP1TestWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    /// Sends a request head; the body follows with `send(_:)` and `finish()`.
    public func start(_ method: HTTPMethod, _ target: String, headers: [(String, String)]) async throws {
        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: HTTPHeaders(headers))))
    }

    public func send(_ bytes: ByteBuffer) async throws {
        try await outbound.write(.body(.byteBuffer(bytes)))
    }

    public func finish() async throws {
        try await outbound.write(.end(nil))
    }
}

/// Opens a connection to `host:port`, runs `body`, and closes the connection.
///
/// With `keepsSendingAfterPeerCloses` the connection stays writable when the peer half-closes,
/// as a Go or curl client's does; otherwise the peer's close ends it.
public func withHTTP1Connection<T: Sendable>(
    host: String = "127.0.0.1", port: Int, keepsSendingAfterPeerCloses: Bool = false, _ body: (inout HTTP1TestConnection) async throws -> T
) async throws -> T {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelOption(ChannelOptions.allowRemoteHalfClosure, value: keepsSendingAfterPeerCloses)
        .connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
    return try await channel.executeThenClose { inbound, outbound in
        var connection = HTTP1TestConnection(inbound: inbound, outbound: outbound, iterator: inbound.makeAsyncIterator())
        return try await body(&connection)
    }
}

/// Writes `text` as it is on a new connection and reads until the server closes it: for
/// requests no HTTP client would send.
public func exchangeBytes(host: String = "127.0.0.1", port: Int, _ text: String) async throws -> String {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: host, port: port) { channel in
        channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
    }
    return try await channel.executeThenClose { inbound, outbound in
        try await outbound.write(ByteBuffer(string: text))
        var received = ""
        for try await chunk in inbound { received += String(buffer: chunk) }
        return received
    }
}

extension HTTPHeaders {
    init(_ pairs: [(String, String)]) {
        self.init()
        for (name, value) in pairs { add(name: name, value: value) }
    }
}
