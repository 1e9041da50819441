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

        await group.triggerGracefulShutdown()
        try await task.value
    }
}
