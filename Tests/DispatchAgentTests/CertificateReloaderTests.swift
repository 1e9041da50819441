import AsyncHTTPClient
import DispatchAgent
import DispatchCertificates
import DispatchCore
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeSim
import Logging
import MetricsTestKit
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import TestSupport
import Testing

@Suite struct CertificateReloaderTests {
    /// A rotated certificate from another CA: before rotation only the first CA verifies the
    /// server, after it only the second.
    @Test func handshakesUseTheRotatedCertificate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try CertificateAuthority(commonName: "first")
        let second = try CertificateAuthority(commonName: "second")
        func install(_ ca: CertificateAuthority) throws {
            let issued = try ca.issue(commonName: "webhook")
            try issued.certificatePEM.write(to: directory.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
            try issued.privateKeyPEM.write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        }
        try install(first)
        let reloader = CertificateReloader(
            certificatePath: directory.appendingPathComponent("tls.crt").path, keyPath: directory.appendingPathComponent("tls.key").path,
            logger: Logger(label: "tls-test"))
        let state = AgentState(rules: Rules())
        let controller = AdmissionController(placer: Placer(state: state, inventory: { .empty() }, logger: Logger(label: "tls-test")), state: state)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = WebhookServer.application(
            controller: controller, certificates: reloader, host: "127.0.0.1", port: 0, logger: Logger(label: "tls-test")
        ) { continuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "tls-test")))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        func handshakeSucceeds(trusting ca: CertificateAuthority) async -> Bool {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try! NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            // A refused certificate should fail now, not be retried until the timeout.
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            defer { Task { try await client.shutdown() } }
            var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/mutate")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: "{}"))
            return (try? await client.execute(request, timeout: .seconds(5))) != nil
        }

        #expect(await handshakeSucceeds(trusting: first))
        #expect(!(await handshakeSucceeds(trusting: second)))
        try install(second)
        #expect(try reloader.load(), "the files changed")
        #expect(await handshakeSucceeds(trusting: second))
        #expect(!(await handshakeSucceeds(trusting: first)))

        // A half-written key is refused and the working certificate stays.
        try "not a key".write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        #expect(throws: CertificateReloader.LoadError.self) { try reloader.load() }
        #expect(await handshakeSucceeds(trusting: second))

        // So is a valid key that is not the certificate's (a rotation caught between its two
        // writes): served, it would fail every handshake.
        let unrelated = try second.issue(commonName: "unrelated")
        try unrelated.privateKeyPEM.write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        #expect(throws: CertificateReloader.LoadError.self) { try reloader.load() }
        #expect(await handshakeSucceeds(trusting: second))

        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Pairs installed in memory (the agent's own CA) are served from the next load on, and
    /// waiters for the first one are released by it; a pair that does not belong together
    /// changes nothing.
    @Test func installedPairsLoadAtOnceAndBadOnesChangeNothing() async throws {
        let ca = try CertificateAuthority(commonName: "agent")
        let first = try ca.issue(commonName: "webhook")
        let second = try ca.issue(commonName: "webhook")
        let metrics = TestMetrics()
        let reloader = CertificateReloader(
            certificatePath: nil, keyPath: nil, metrics: DispatchMetrics(factory: metrics), logger: Logger(label: "tls-test"))
        #expect(!reloader.isLoaded)
        #expect(throws: CertificateReloader.LoadError.self) { try reloader.serverConfiguration() }
        let waiter = Task { await reloader.firstLoaded() }

        #expect(try reloader.install(certificatePEM: first.certificatePEM, privateKeyPEM: first.privateKeyPEM))
        await waiter.value
        #expect(reloader.isLoaded)
        #expect(
            try !reloader.install(certificatePEM: first.certificatePEM, privateKeyPEM: first.privateKeyPEM), "the same pair again changes nothing")
        #expect(throws: CertificateReloader.LoadError.self) {
            try reloader.install(certificatePEM: first.certificatePEM, privateKeyPEM: second.privateKeyPEM)
        }
        #expect(try !reloader.install(certificatePEM: first.certificatePEM, privateKeyPEM: first.privateKeyPEM), "the refused pair was not kept")
        #expect(try reloader.install(certificatePEM: second.certificatePEM, privateKeyPEM: second.privateKeyPEM))
        let expiry = try metrics.expectGauge("direktiv_dispatch_webhook_certificate_expiry_timestamp_seconds", [("certificate", "serving")])
        #expect(expiry.lastValue ?? 0 > Date().timeIntervalSince1970)
        _ = try reloader.serverConfiguration()
    }
}
