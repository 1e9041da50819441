import NIOCore
import NIOHTTP1
import NIOPosix

/// Calls functions the way Direktiv's engine does with `HTTP_PROXY` set: an absolute-form
/// request (`POST http://<fn>.<ns>/`) to the proxy. AsyncHTTPClient always tunnels through a
/// proxy with CONNECT, which the agent refuses, so this speaks HTTP/1.1 itself.
struct ForwardProxyClient: Sendable {
    let host: String
    let port: Int

    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    struct ConnectionClosed: Error, CustomStringConvertible {
        var description: String { "the proxy closed the connection before answering" }
    }

    /// One call on its own connection.
    func post(_ url: String, headers: [(String, String)], body: [UInt8]) async throws -> Answer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(2))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: url)
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            try await outbound.write(.head(head))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
            try await outbound.write(.end(nil))
            var answer: Answer?
            for try await part in inbound {
                switch part {
                case .head(let head) where head.status.code >= 200:
                    answer = Answer(status: Int(head.status.code), headers: head.headers, body: [])
                case .head:
                    continue
                case .body(let buffer):
                    answer?.body += buffer.readableBytesView
                case .end:
                    if let answer { return answer }
                }
            }
            throw ConnectionClosed()
        }
    }
}
