import Foundation
import Hummingbird
import NIOCore
import Synchronization
import TestSupport

/// Answers `GET /api/v2/namespaces` as Direktiv's `nsController.list` does (pkg/api/namespaces.go):
/// `{"data":[...]}` written by Go's `json.Encoder` (a trailing newline), each namespace as the
/// embedded `datastore.Namespace` (`name`, `createdAt`, `updatedAt`) then `mirror` and
/// `isSystemNamespace`; `{"data":[]}` when there are none. With a key it checks the header as
/// Direktiv 0.8's `apikeyHandler` (cmd/direktiv/main.go) does: `direktiv-token`, else 401 with
/// no body. Any other path gets Hummingbird's 404, as chi answers 404 there.
final class FakeDirektivAPI: Sendable {
    let url: String
    private let names: Mutex<[String]>
    /// The headers of each request received, names lower-cased.
    let received = Recorder<[String: String]>()
    private let task = Mutex<Task<Void, any Error>?>(nil)

    private init(url: String, namespaces: [String]) {
        self.url = url
        self.names = Mutex(namespaces)
    }

    func setNamespaces(_ namespaces: [String]) {
        names.withLock { $0 = namespaces }
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }

    static func start(namespaces: [String], key: String? = nil) async throws -> FakeDirektivAPI {
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        let router = Router()
        // The server is made before the object that reports its URL: the route reads it late.
        let box = Mutex<FakeDirektivAPI?>(nil)
        router.get("/api/v2/namespaces") { request, _ -> Response in
            guard let api = box.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            api.received.append(headers)
            if let key, headers["direktiv-token"] != key {
                return Response(status: .unauthorized)
            }
            let body = Self.listBody(api.names.withLock { $0 })
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        let application = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                port.yield(channel.localAddress?.port ?? 0)
                port.finish()
            })
        let task = Task { try await application.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), bound != 0 else {
            task.cancel()
            throw HarnessError("the fake Direktiv API did not start")
        }
        let api = FakeDirektivAPI(url: "http://127.0.0.1:\(bound)", namespaces: namespaces)
        api.task.withLock { $0 = task }
        box.withLock { $0 = api }
        return api
    }

    static func listBody(_ names: [String]) -> String {
        let entries = names.map { name in
            #"{"name":"\#(name)","createdAt":"2026-12-01T10:00:00.123456Z","updatedAt":"2026-12-01T10:00:00.123456Z","mirror":null,"isSystemNamespace":\#(name == "system")}"#
        }
        return #"{"data":[\#(entries.joined(separator: ","))]}"# + "\n"
    }
}
