import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Serves TLS with the certificate and key in two files, picking up new ones as they are rotated.
///
/// The files are read at start and checked again every `interval`; each TLS handshake uses the
/// latest pair that loaded. A pair that does not load (half-written, mismatched) is logged and
/// the previous one stays in use.
public final class CertificateReloader: Service, Sendable {
    private struct Loaded {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var contents: Data
    }

    public let certificatePath: String
    public let keyPath: String
    private let interval: Duration
    private let logger: Logger
    private let current = Mutex<Loaded?>(nil)

    public init(certificatePath: String, keyPath: String, interval: Duration = .seconds(10), logger: Logger) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.interval = interval
        self.logger = logger
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the files now; returns whether they changed since the last load.
    @discardableResult
    public func load() throws(LoadError) -> Bool {
        guard let certificate = FileManager.default.contents(atPath: certificatePath) else {
            throw LoadError(description: "cannot read the TLS certificate \(certificatePath)")
        }
        guard let key = FileManager.default.contents(atPath: keyPath) else {
            throw LoadError(description: "cannot read the TLS key \(keyPath)")
        }
        let contents = certificate + key
        if current.withLock({ $0?.contents == contents }) { return false }
        let loaded: Loaded
        do {
            loaded = Loaded(
                chain: try NIOSSLCertificate.fromPEMBytes(Array(certificate)),
                key: try NIOSSLPrivateKey(bytes: Array(key), format: .pem),
                contents: contents
            )
        } catch {
            throw LoadError(description: "the TLS certificate or key is not valid PEM: \(error)")
        }
        guard !loaded.chain.isEmpty else { throw LoadError(description: "\(certificatePath) holds no certificate") }
        current.withLock { $0 = loaded }
        return true
    }

    public var isLoaded: Bool { current.withLock { $0 != nil } }

    /// A server configuration (TLS 1.2 and later) whose handshakes use the latest certificate.
    public func serverConfiguration() throws(LoadError) -> TLSConfiguration {
        if !isLoaded { try load() }
        guard let loaded = current.withLock({ $0 }) else { throw LoadError(description: "no certificate loaded") }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: loaded.chain.map { .certificate($0) }, privateKey: .privateKey(loaded.key))
        configuration.minimumTLSVersion = .tlsv12
        // Closing waits this long for the client's close_notify; idle pooled clients may never
        // send one, and the default 5 s would stretch every graceful shutdown.
        configuration.shutdownTimeout = .seconds(1)
        configuration.sslContextCallback = { [weak self] _, promise in
            guard let loaded = self?.current.withLock({ $0 }) else {
                promise.succeed(.noChanges)
                return
            }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = loaded.chain.map { .certificate($0) }
            override.privateKey = .privateKey(loaded.key)
            promise.succeed(override)
        }
        return configuration
    }

    /// Checks the files every `interval` until shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while (try? await Task.sleep(for: self.interval)) != nil {
                self.reload()
            }
        }
    }

    func reload() {
        do {
            if try load() { logger.info("loaded a new TLS certificate", metadata: ["certificate": "\(certificatePath)"]) }
        } catch {
            logger.error("keeping the previous TLS certificate", metadata: ["error": "\(error)"])
        }
    }
}
