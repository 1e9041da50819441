import DispatchMetrics
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Serves TLS with the certificate and key in two files, picking up new ones as they are rotated,
/// or with pairs installed in memory (``install(certificatePEM:privateKeyPEM:)``) by the
/// ``WebhookCertificateManager``.
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

    /// nil when the pairs are installed in memory.
    public let certificatePath: String?
    public let keyPath: String?
    private let interval: Duration
    private let metrics: DispatchMetrics
    private let logger: Logger
    private let current = Mutex<Loaded?>(nil)
    /// Tasks waiting in ``firstLoaded()``, by id so a cancelled one can leave.
    private let waiters = Mutex<(next: Int, waiting: [Int: CheckedContinuation<Void, Never>])>((0, [:]))

    public init(
        certificatePath: String?, keyPath: String?, interval: Duration = .seconds(10), metrics: DispatchMetrics = DispatchMetrics(), logger: Logger
    ) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the files now; returns whether they changed since the last load.
    @discardableResult
    public func load() throws(LoadError) -> Bool {
        guard let certificatePath, let keyPath else { throw LoadError(description: "no TLS certificate installed yet") }
        guard let certificate = FileManager.default.contents(atPath: certificatePath) else {
            throw LoadError(description: "cannot read the TLS certificate \(certificatePath)")
        }
        guard let key = FileManager.default.contents(atPath: keyPath) else {
            throw LoadError(description: "cannot read the TLS key \(keyPath)")
        }
        return try use(certificate: certificate, key: key, source: certificatePath)
    }

    /// Serves this pair from the next handshake on; returns whether it differs from the last.
    @discardableResult
    public func install(certificatePEM: String, privateKeyPEM: String) throws(LoadError) -> Bool {
        try use(certificate: Data(certificatePEM.utf8), key: Data(privateKeyPEM.utf8), source: "the installed certificate")
    }

    private func use(certificate: Data, key: Data, source: String) throws(LoadError) -> Bool {
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
        guard !loaded.chain.isEmpty else { throw LoadError(description: "\(source) holds no certificate") }
        current.withLock { $0 = loaded }
        // Files rotated by cert-manager or by hand are watched like the agent's own: the expiry
        // alert covers both.
        metrics.webhookCertificateExpiry("serving", at: Double(loaded.chain[0].notValidAfter))
        let waiting = waiters.withLock { waiters in
            defer { waiters.waiting = [:] }
            return Array(waiters.waiting.values)
        }
        for continuation in waiting { continuation.resume() }
        return true
    }

    /// Returns once a certificate is loaded (at once if one is), or when the task is cancelled:
    /// the webhook cannot listen before the ``WebhookCertificateManager`` has issued one.
    public func firstLoaded() async {
        let id = waiters.withLock { waiters in
            defer { waiters.next += 1 }
            return waiters.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = waiters.withLock { waiters in
                    if isLoaded || Task.isCancelled { return true }
                    waiters.waiting[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            waiters.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
        }
    }

    public var isLoaded: Bool { current.withLock { $0 != nil } }

    /// A server configuration (TLS 1.2 and later) whose handshakes use the latest certificate.
    public func serverConfiguration() throws(LoadError) -> TLSConfiguration {
        if !isLoaded { try load() }
        guard let loaded = current.withLock({ $0 }) else { throw LoadError(description: "no certificate loaded") }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: loaded.chain.map { .certificate($0) }, privateKey: .privateKey(loaded.key))
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

    /// Checks the files every `interval` until shutdown (nothing to do for installed pairs).
    public func run() async throws {
        guard certificatePath != nil else {
            try? await gracefulShutdown()
            return
        }
        // The first round finds the files loaded at start unchanged.
        await repeatUntilShutdown(every: interval) { self.reload() }
    }

    func reload() {
        do {
            if try load() { logger.info("loaded a new TLS certificate", metadata: ["certificate": "\(certificatePath ?? "")"]) }
        } catch {
            logger.error("keeping the previous TLS certificate", metadata: ["error": "\(error)"])
        }
    }
}
