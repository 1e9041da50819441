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

@Suite struct RulesReloaderTests {
    @Test func appliesValidChangesAndKeepsTheLastGoodRules() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("rules.yaml").path
        try "clusterLabel: a.example/cluster\n".write(toFile: path, atomically: true, encoding: .utf8)
        let (rules, contents) = try RulesReloader.load(path: path)
        let state = AgentState(rules: rules)
        let metrics = TestMetrics()
        let applied = Recorder<Rules>()
        let reloader = RulesReloader(path: path, state: state, metrics: DispatchMetrics(factory: metrics), logger: Logger(label: "rules-test")) {
            applied.append($0)
        }
        reloader.loaded(contents)

        #expect(reloader.reload(reason: "test") == .unchanged)
        try "clusterLabel: b.example/cluster\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(reloader.reload(reason: "test") == .applied)
        #expect(state.rules.clusterLabel == "b.example/cluster")
        #expect(applied.all.map(\.clusterLabel) == ["b.example/cluster"])

        try "clusterLabel: [not, a, label]\nbogus: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        guard case .refused(let why) = reloader.reload(reason: "test") else {
            Issue.record("invalid rules must be refused")
            return
        }
        #expect(why.contains("bogus"))
        #expect(state.rules.clusterLabel == "b.example/cluster", "the last good rules stay")
        #expect(try metrics.expectCounter("direktiv_dispatch_rules_reload_failures_total").totalValue == 1)

        // A ConfigMap volume swaps a symlink; the content is what counts.
        let target = directory.appendingPathComponent("..2026_11_25").path
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try "clusterLabel: c.example/cluster\n".write(toFile: target + "/rules.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target + "/rules.yaml")
        #expect(reloader.reload(reason: "test") == .applied)
        #expect(state.rules.clusterLabel == "c.example/cluster")
    }

    @Test func startRefusesInvalidRulesWithPositions() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).yaml").path
        try "clusterLable: x\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try RulesReloader.load(path: path)
            Issue.record("invalid rules must stop the start")
        } catch {
            #expect(error.description.contains("\(path):1:1: clusterLable: unknown key"))
        }
    }
}

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
