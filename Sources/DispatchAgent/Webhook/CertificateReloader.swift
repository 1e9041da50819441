import DispatchMetrics
import Foundation
import Logging
import NIOCertificateReloading
import NIOCore
import NIOSSL
import ServiceLifecycle
import SwiftASN1
import Synchronization
import X509

/// Serves TLS with the certificate and key in two files, picking up new ones as they are rotated,
/// or with pairs installed in memory (``install(certificatePEM:privateKeyPEM:)``) by the
/// ``WebhookCertificateManager``.
///
/// The loading is swift-nio-extras' `TimedCertificateReloader`: the files are read at start and
/// checked again every `interval`; each TLS handshake uses the latest pair that loaded. A pair
/// that does not load (half-written, not PEM, a key that is not the certificate's) is logged and
/// the previous one stays in use. An installed pair is loaded at once through the same reloader
/// (its source is memory), so a rotation takes effect from the next handshake, not an interval
/// later. Around it this type keeps what the agent needs: the certificate-expiry gauge, a wait for
/// the first pair, and whether a load changed anything.
public final class CertificateReloader: Service, Sendable {
    /// nil when the pairs are installed in memory.
    public let certificatePath: String?
    public let keyPath: String?
    private let reloader: TimedCertificateReloader
    private let loads: Loads

    /// What the reloader's callbacks share with this type.
    private final class Loads: Sendable {
        struct State {
            /// Loads that changed the pair.
            var changes = 0
            var loaded = false
            /// The certificate served now, as PEM (for the doctor's caBundle check).
            var certificatePEM: String?
            /// Tasks waiting in ``firstLoaded()``, by id so a cancelled one can leave.
            var nextWaiter = 0
            var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
        }
        let state = Mutex(State())
        /// The pair the memory source hands to the reloader.
        let installed = Mutex<(certificate: [UInt8], key: [UInt8])?>(nil)

        func installedPair() throws(LoadError) -> (certificate: [UInt8], key: [UInt8]) {
            guard let pair = installed.withLock({ $0 }) else { throw LoadError(description: "no TLS certificate installed yet") }
            return pair
        }
    }

    public init(
        certificatePath: String?, keyPath: String?, interval: Duration = .seconds(10), metrics: DispatchMetrics = DispatchMetrics(), logger: Logger
    ) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        let loads = Loads()
        self.loads = loads
        let certificateLocation: TimedCertificateReloader.Location
        let keyLocation: TimedCertificateReloader.Location
        if let certificatePath, let keyPath {
            certificateLocation = .file(path: certificatePath)
            keyLocation = .file(path: keyPath)
        } else {
            certificateLocation = .memory { try loads.installedPair().certificate }
            keyLocation = .memory { try loads.installedPair().key }
        }
        let configuration = TimedCertificateReloader.Configuration(
            refreshInterval: interval,
            certificateSource: .init(location: certificateLocation, format: .pem),
            privateKeySource: .init(location: keyLocation, format: .pem)
        ) {
            $0.onCertificateLoadFailed = { failure in
                // Before the first pair, whoever asked for the load gets the error instead.
                guard loads.state.withLock({ $0.loaded }) else { return }
                logger.error(
                    "keeping the previous TLS certificate",
                    metadata: ["error": "\(Self.explain(failure.error, certificatePath: certificatePath, keyPath: keyPath))"])
            }
            $0.onCertificateLoaded = { diff in
                let changed =
                    diff.previousX509CertificateChain != diff.currentX509CertificateChain || diff.previousX509PrivateKey != diff.currentX509PrivateKey
                guard changed, let leaf = diff.currentX509CertificateChain.first else { return }
                logger.info("loaded a new TLS certificate", metadata: ["certificate": "\(certificatePath ?? "installed")"])
                // Files rotated by cert-manager or by hand are watched like the agent's own: the
                // expiry alert covers both.
                metrics.webhookCertificateExpiry("serving", at: leaf.notValidAfter.timeIntervalSince1970)
                let pem = try? leaf.serializeAsPEM().pemString
                let waiting = loads.state.withLock { state in
                    state.changes += 1
                    state.loaded = true
                    state.certificatePEM = pem
                    defer { state.waiting = [:] }
                    return Array(state.waiting.values)
                }
                for continuation in waiting { continuation.resume() }
            }
        }
        reloader = TimedCertificateReloader(configuration: configuration)
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the files now; returns whether they changed since the last load.
    @discardableResult
    public func load() throws(LoadError) -> Bool {
        guard certificatePath != nil else { throw LoadError(description: "no TLS certificate installed yet") }
        return try reload(from: "the files \(certificatePath ?? "") and \(keyPath ?? "")")
    }

    /// Serves this pair from the next handshake on; returns whether it differs from the last.
    /// A pair that does not load changes nothing.
    @discardableResult
    public func install(certificatePEM: String, privateKeyPEM: String) throws(LoadError) -> Bool {
        guard certificatePath == nil else { throw LoadError(description: "this reloader serves the files \(certificatePath ?? "")") }
        let previous = loads.installed.withLock { installed in
            defer { installed = (Array(certificatePEM.utf8), Array(privateKeyPEM.utf8)) }
            return installed
        }
        do {
            return try reload(from: "the installed certificate")
        } catch {
            loads.installed.withLock { $0 = previous }
            throw error
        }
    }

    private func reload(from source: String) throws(LoadError) -> Bool {
        let before = loads.state.withLock { $0.changes }
        do {
            try reloader.reload()
        } catch {
            throw LoadError(description: "\(source) did not load: \(Self.explain(error, certificatePath: certificatePath, keyPath: keyPath))")
        }
        return loads.state.withLock { $0.changes } != before
    }

    /// What went wrong, in words that name the file.
    private static func explain(_ error: any Error, certificatePath: String?, keyPath: String?) -> String {
        guard let error = error as? TimedCertificateReloader.Error else { return "\(error)" }
        if error == .publicKeyMismatch { return "the TLS key is not the certificate's key" }
        if let certificatePath, error == .certificatePathNotFound(certificatePath) { return "cannot read the TLS certificate \(certificatePath)" }
        if let keyPath, error == .privateKeyPathNotFound(keyPath) { return "cannot read the TLS key \(keyPath)" }
        return "the TLS certificate or key is not valid PEM: \(error)"
    }

    /// Returns once a certificate is loaded (at once if one is), or when the task is cancelled:
    /// the webhook cannot listen before the ``WebhookCertificateManager`` has issued one.
    public func firstLoaded() async {
        let id = loads.state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = loads.state.withLock { state in
                    if state.loaded || Task.isCancelled { return true }
                    state.waiting[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            loads.state.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
        }
    }

    public var isLoaded: Bool { loads.state.withLock { $0.loaded } }

    /// The certificate the webhook serves, as PEM; nil before the first load.
    public var certificatePEM: String? { loads.state.withLock { $0.certificatePEM } }

    /// A server configuration (TLS 1.2 and later) whose handshakes use the latest certificate.
    public func serverConfiguration() throws(LoadError) -> TLSConfiguration {
        if !isLoaded { try load() }
        var configuration: TLSConfiguration
        do {
            configuration = try TLSConfiguration.makeServerConfiguration(certificateReloader: reloader)
        } catch {
            throw LoadError(description: "no certificate loaded: \(error)")
        }
        configuration.minimumTLSVersion = .tlsv12
        // Closing waits this long for the client's close_notify; idle pooled clients may never
        // send one, and the default 5 s would stretch every graceful shutdown.
        configuration.shutdownTimeout = .seconds(1)
        return configuration
    }

    /// Checks the files every `interval` until shutdown (nothing to do for installed pairs:
    /// each is loaded as it is installed).
    public func run() async throws {
        guard certificatePath != nil else {
            try? await gracefulShutdown()
            return
        }
        // The first round finds the files loaded at start unchanged.
        try await reloader.run()
    }
}
