import Foundation
import Hummingbird
import HummingbirdTLS
import KubeModels
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The HTTPS server that answers admission requests on `POST /mutate`.
public enum WebhookServer {
    /// The API server's own request limit; a review is never larger.
    public static let defaultMaximumBodyBytes = 3 << 20

    /// The routes, without the server: for tests through `app.test(.router)`.
    public static func router(
        controller: AdmissionController, maximumBodyBytes: Int = defaultMaximumBodyBytes, requestTimeout: Duration = .seconds(10)
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("mutate") { request, _ -> Response in
            let body: ByteBuffer
            do {
                body = try await withDeadline(requestTimeout) {
                    var request = request
                    return try await request.collectBody(upTo: maximumBodyBytes)
                }
            } catch is DeadlineExceeded {
                return .error(.requestTimeout, "the request body did not arrive within \(requestTimeout)")
            } catch {
                return .error(.contentTooLarge, "the request body exceeds \(maximumBodyBytes) bytes")
            }
            do {
                let review = try await controller.review(body: body.readableBytesView)
                let answer: JSONValue = [
                    "apiVersion": .string(AdmissionReview.apiVersionV1), "kind": "AdmissionReview", "response": review.response?.json ?? [:],
                ]
                return Response(
                    status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.jsonBytes)))
            } catch {
                return .error(.badRequest, String(describing: error))
            }
        }
        return router
    }

    /// The webhook as a service: TLS from `certificates`, each connection closed after 60 s idle.
    ///
    /// With certificates installed in memory (the ``WebhookCertificateManager``) it listens once
    /// the first one is there; with files, it reads them when it starts.
    public static func application(
        controller: AdmissionController,
        certificates: CertificateReloader,
        host: String,
        port: Int,
        logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        AfterFirstCertificate(certificates: certificates) {
            Application(
                router: router(controller: controller),
                server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(60))), tlsConfiguration: try certificates.serverConfiguration()),
                configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "direktiv-dispatch-webhook"),
                onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                logger: logger
            )
        }
    }

    /// Waits for an installed certificate (files need no wait), then runs what `make` builds.
    struct AfterFirstCertificate<Wrapped: Service>: Service {
        let certificates: CertificateReloader
        let make: @Sendable () throws -> Wrapped

        func run() async throws {
            if certificates.certificatePath == nil {
                await cancelWhenGracefulShutdown { await certificates.firstLoaded() }
                guard certificates.isLoaded else { return }
            }
            try await make().run()
        }
    }
}

extension Response {
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A JSON error body: `{"error": "..."}`.
    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        .json(["error": message], status: status)
    }
}

struct DeadlineExceeded: Error {}

/// Runs `body`, cancelling it and throwing ``DeadlineExceeded`` when it outlasts `deadline`.
func withDeadline<T: Sendable>(_ deadline: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: deadline)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DeadlineExceeded() }
        return value
    }
}
