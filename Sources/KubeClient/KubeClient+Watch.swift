import AsyncHTTPClient
import Foundation
import KubeModels
import NIOCore
import NIOHTTP1

extension KubeClient {
    /// Opens a watch from `resourceVersion` and returns its events as they arrive.
    ///
    /// A `410 Gone` answer (the version is too old) throws ``KubeAPIError`` with `isGone`; the
    /// same can arrive later as an ``WatchEvent/error(_:)`` event. Either way the caller lists again.
    public func watch<T: Decodable & Sendable>(
        _ type: T.Type,
        _ resource: ResourceDescriptor,
        namespace: String? = nil,
        options: ListOptions = ListOptions(),
        timeoutSeconds: Int? = nil
    ) async throws -> WatchStream<T> {
        var query = options.queryItems
        query.append(("watch", "1"))
        query.append(("allowWatchBookmarks", "true"))
        if let timeoutSeconds { query.append(("timeoutSeconds", String(timeoutSeconds))) }
        let response = try await send(Request(method: .GET, path: resource.path(namespace: namespace), query: query))
        return WatchStream(body: response.body, resource: resource)
    }
}

/// The events of one watch connection, decoded as they arrive; ends when the server closes it.
///
/// The body is read by a task of its own that is cancelled as soon as the consumer stops
/// (breaks out of its loop, is cancelled, or drops the stream), which cancels the HTTP request:
/// an abandoned watch never lingers as an open connection.
public struct WatchStream<Object: Decodable & Sendable>: AsyncSequence, Sendable {
    public typealias Element = WatchEvent<Object>
    private let events: AsyncThrowingStream<WatchEvent<Object>, any Error>
    private let canceller: Canceller

    init(body: HTTPClientResponse.Body, resource: ResourceDescriptor) {
        let (events, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent<Object>.self)
        let reader = Task {
            var splitter = LineSplitter()
            let decoder = JSONDecoder()
            func decode(_ line: ByteBuffer) throws -> WatchEvent<Object> {
                do {
                    return try decoder.decode(WatchEvent<Object>.self, from: Data(line.readableBytesView))
                } catch {
                    throw KubeClientError.decoding("watch \(resource) event: \(error)")
                }
            }
            do {
                var iterator = body.makeAsyncIterator()
                while true {
                    let chunk: ByteBuffer?
                    do {
                        chunk = try await iterator.next()
                    } catch {
                        throw KubeClientError.transport("watch stream: \(error)")
                    }
                    guard let chunk else { break }
                    for line in try splitter.append(chunk) { continuation.yield(try decode(line)) }
                }
                if let rest = splitter.finish() { continuation.yield(try decode(rest)) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in reader.cancel() }
        self.events = events
        self.canceller = Canceller(reader)
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: events.makeAsyncIterator(), canceller: canceller)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<WatchEvent<Object>, any Error>.AsyncIterator
        let canceller: Canceller

        public mutating func next() async throws -> WatchEvent<Object>? {
            try await base.next()
        }
    }

    /// Cancels the reader once neither the stream nor an iterator of it is left: the reader's own
    /// reference to the stream keeps the stream alive, so its termination handler cannot do this.
    final class Canceller: Sendable {
        let reader: Task<Void, Never>
        init(_ reader: Task<Void, Never>) { self.reader = reader }
        deinit { reader.cancel() }
    }
}
