import AsyncHTTPClient
import Foundation
import KubeModels
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// A minimal Kubernetes API client on AsyncHTTPClient.
///
/// TLS verification is always on unless the configuration explicitly skips it; bodies and
/// watches are bounded by the read timeout (silence between bytes), not by a whole-request
/// timeout, so long watches stay open while dead connections are noticed.
public final class KubeClient: Sendable {
    public let configuration: KubeConfiguration
    let httpClient: HTTPClient
    let tokens: BearerTokenSource
    let logger: Logger
    /// Largest non-watch answer accepted.
    let maximumResponseBytes: Int
    /// Receives each warning the API server sends (`Warning: 299 - "..."`), such as admission warnings.
    let onWarning: @Sendable (String) -> Void

    public init(
        configuration: KubeConfiguration,
        logger: Logger = Logger(label: "kube-client"),
        maximumResponseBytes: Int = 256 << 20,
        onWarning: (@Sendable (String) -> Void)? = nil
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.onWarning = onWarning ?? { [logger] warning in logger.warning("Kubernetes API warning: \(warning)") }
        self.maximumResponseBytes = maximumResponseBytes
        self.tokens = BearerTokenSource(configuration.credentials)
        var clientConfiguration = HTTPClient.Configuration(
            tlsConfiguration: try Self.tlsConfiguration(configuration.tls),
            redirectConfiguration: .disallow,
            timeout: .init(connect: .init(configuration.connectTimeout), read: .init(configuration.readTimeout)),
            decompression: .disabled
        )
        clientConfiguration.connectionPool.idleTimeout = .seconds(60)
        // Informers hold one long watch per resource type; leave room for ordinary calls beside them.
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        self.httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    /// Closes the connections; call once when done.
    public func shutdown() async throws {
        try await httpClient.shutdown()
    }

    static func tlsConfiguration(_ settings: KubeConfiguration.TLSSettings) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        // Closing a connection waits this long for the server's close_notify. A server busy
        // streaming a watch may not read it, and the default 5 s would stall every shutdown.
        tls.shutdownTimeout = .milliseconds(500)
        if settings.insecureSkipVerify {
            tls.certificateVerification = .none
        } else if let ca = settings.certificateAuthorityPEM {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
            } catch {
                throw KubeConfigurationError("the certificate authority is not valid PEM: \(error)")
            }
        }
        if let certificate = settings.clientCertificatePEM, let key = settings.clientKeyPEM {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            } catch {
                throw KubeConfigurationError("the client certificate or key is not valid PEM: \(error)")
            }
        }
        return tls
    }

    // MARK: - Requests

    /// A prepared API request.
    struct Request {
        var method: HTTPMethod
        var path: String
        var query: [(String, String)] = []
        var body: ByteBuffer?
        var contentType: String?
    }

    func makeHTTPRequest(_ request: Request) throws -> HTTPClientRequest {
        var components = URLComponents()
        components.path = request.path
        if !request.query.isEmpty {
            components.queryItems = request.query.map { URLQueryItem(name: $0.0, value: $0.1) }
        }
        // URLComponents leaves "+" alone, which servers read as a space in selectors and versions.
        let query = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        var http = HTTPClientRequest(url: configuration.server + (components.percentEncodedPath) + (query.map { "?\($0)" } ?? ""))
        http.method = request.method
        http.headers.add(name: "Accept", value: "application/json")
        http.headers.add(name: "User-Agent", value: "direktiv-dispatch")
        if let token = try tokens.token() {
            http.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body = request.body {
            http.headers.add(name: "Content-Type", value: request.contentType ?? "application/json")
            http.body = .bytes(body)
        }
        return http
    }

    /// Sends a request and returns the response once its head says 2xx; other answers throw
    /// ``KubeAPIError``. A 401 with a token file reads the file again and retries once.
    func send(_ request: Request) async throws -> HTTPClientResponse {
        var refreshed = false
        while true {
            let response: HTTPClientResponse
            do {
                // The timeout covers the response head; bodies are bounded by the read timeout.
                response = try await httpClient.execute(
                    try makeHTTPRequest(request), timeout: .init(configuration.readTimeout + configuration.connectTimeout), logger: logger)
            } catch let error as KubeConfigurationError {
                throw error
            } catch {
                throw KubeClientError.transport("\(request.method) \(request.path): \(error)")
            }
            for header in response.headers["Warning"] {
                if let text = Self.warningText(header) { onWarning(text) }
            }
            if (200..<300).contains(response.status.code) { return response }
            let body = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            if response.status.code == 401, tokens.canRefresh, !refreshed {
                tokens.invalidate()
                refreshed = true
                continue
            }
            throw Self.apiError(status: response.status, body: body)
        }
    }

    /// Sends a request and returns its whole body.
    func perform(_ request: Request) async throws -> ByteBuffer {
        let response = try await send(request)
        do {
            return try await response.body.collect(upTo: maximumResponseBytes)
        } catch is NIOTooManyBytesError {
            throw KubeClientError.responseTooLarge(maximumResponseBytes)
        } catch {
            throw KubeClientError.transport("\(request.method) \(request.path): reading the answer: \(error)")
        }
    }

    /// The text of a `299 - "text"` warning header.
    static func warningText(_ header: String) -> String? {
        guard header.hasPrefix("299 "), let open = header.firstIndex(of: "\""), let close = header.lastIndex(of: "\""), open < close else {
            return nil
        }
        var text = ""
        var escaped = false
        for character in header[header.index(after: open)..<close] {
            if escaped || character != "\\" {
                text.append(character)
                escaped = false
            } else {
                escaped = true
            }
        }
        return text
    }

    /// The `Status` in an error body, or one made from the HTTP status when the body is not one.
    static func apiError(status: HTTPResponseStatus, body: ByteBuffer) -> KubeAPIError {
        if let decoded = try? JSONDecoder().decode(Status.self, from: Data(body.readableBytesView)), decoded.kind == "Status" || decoded.reason != nil
        {
            var statusObject = decoded
            if statusObject.code == nil { statusObject.code = Int(status.code) }
            return KubeAPIError(status: statusObject)
        }
        let text = String(buffer: body).prefix(512)
        return KubeAPIError(status: .failure(Int(status.code), reason(for: status.code), text.isEmpty ? status.reasonPhrase : String(text)))
    }

    static func reason(for code: UInt) -> Status.Reason {
        switch code {
        case 400: .badRequest
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 405: .methodNotAllowed
        case 409: .conflict
        case 410: .gone
        case 413: .requestEntityTooLarge
        case 415: .unsupportedMediaType
        case 422: .invalid
        case 429: .tooManyRequests
        case 503: .serviceUnavailable
        case 504: .timeout
        default: .internalError
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw KubeClientError.decoding("\(what): \(error)")
        }
    }

    static func encode(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder().encode(value))
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
