import AsyncHTTPClient
import Foundation
import KubeModels
import KubeSim
import NIOCore
import NIOHTTP1
import NIOSSL
import TestSupport
import Testing

/// `direktiv-dispatch serve` as a process, configured through its environment variables.
@Suite(.serialized) struct ServeCommandTests {
    struct Setup {
        var directory: URL
        var environment: [String: String]
        var webhookPort: Int
        var adminPort: Int
        var ca: CertificateAuthority
    }

    func setup(_ sim: SimHarness) throws -> Setup {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ca = try CertificateAuthority(commonName: "webhook-ca")
        let issued = try ca.issue(commonName: "direktiv-dispatch")
        try issued.certificatePEM.write(to: directory.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        try issued.privateKeyPEM.write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        try sim.sim.kubeconfig(server: sim.url).write(to: directory.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
        try exampleRulesYAML().write(to: directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
        let webhookPort = try freePort()
        let adminPort = try freePort()
        return Setup(
            directory: directory,
            environment: [
                "DISPATCH_KUBECONFIG": directory.appendingPathComponent("kubeconfig").path,
                "DISPATCH_RULES": directory.appendingPathComponent("rules.yaml").path,
                "DISPATCH_TLS_CERT": directory.appendingPathComponent("tls.crt").path,
                "DISPATCH_TLS_KEY": directory.appendingPathComponent("tls.key").path,
                "DISPATCH_BIND_ADDRESS": "127.0.0.1",
                "DISPATCH_WEBHOOK_PORT": String(webhookPort),
                "DISPATCH_ADMIN_PORT": String(adminPort),
                "DISPATCH_PROXY_PORT": String(try freePort()),
                "DISPATCH_DRAIN_SECONDS": "5",
                "DISPATCH_PROTECT_READS": "false",
            ],
            webhookPort: webhookPort,
            adminPort: adminPort,
            ca: ca
        )
    }

    func client(trusting ca: CertificateAuthority) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    @Test func servesReloadsAndStopsGracefully() async throws {
        let sim = try await SimHarness.start()
        let setup = try setup(sim)
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let serve = try RunningProcess(CLI.binary, arguments: ["serve", "--log-level", "info"], environment: setup.environment)
        defer { serve.stop() }
        _ = try await next(serve.lines, within: .seconds(30)) { $0.contains("inventory synced") }

        let http = try client(trusting: setup.ca)
        defer { Task { try await http.shutdown() } }
        let health = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(setup.adminPort)/healthz"), timeout: .seconds(5))
        #expect(health.status == .ok)
        let ready = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(setup.adminPort)/readyz"), timeout: .seconds(5))
        #expect(ready.status == .ok)
        let readyBody = try JSONValue.parse(try await ready.body.collect(upTo: 1 << 16).readableBytesView)
        #expect(readyBody == ["ready": true, "checks": ["inventory": "ok", "rules": "ok", "tls": "ok"]])

        // A real admission review over TLS.
        let object = try exampleObject("direktiv/ksvc-0.8.10.json")
        let review = AdmissionReview(request: .init(
            uid: "serve-test", kind: .knativeService, resource: GroupVersionResource(group: "serving.knative.dev", version: "v1", resource: "services"),
            name: object[path: "metadata", "name"]?.stringValue, namespace: Scenario.functionsNamespace, operation: "CREATE", object: object
        ))
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(setup.webhookPort)/mutate")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(review)))
        let answer = try await http.execute(request, timeout: .seconds(5))
        let decoded = try JSONDecoder().decode(AdmissionReview.self, from: Data(try await answer.body.collect(upTo: 1 << 20).readableBytesView))
        #expect(decoded.response?.uid == "serve-test")
        #expect(decoded.response?.allowed == true)
        #expect(decoded.response?.patchType == "JSONPatch")

        // SIGHUP: an invalid file is refused, a valid one applied.
        let rules = setup.directory.appendingPathComponent("rules.yaml")
        try "namespaces: nonsense\n".write(to: rules, atomically: true, encoding: .utf8)
        serve.signal(SIGHUP)
        _ = try await next(serve.lines) { $0.contains("refused invalid rules") }
        try "clusterLabel: kubernetes.io/hostname\n".write(to: rules, atomically: true, encoding: .utf8)
        serve.signal(SIGHUP)
        _ = try await next(serve.lines) { $0.contains("rules reloaded") }

        serve.signal(SIGTERM)
        #expect(await serve.exitStatus() == 0)
        await sim.stop()
    }

    @Test func invalidRulesStopTheStartWithPositions() async throws {
        let sim = try await SimHarness.start()
        let setup = try setup(sim)
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        try "clusterLable: x\n".write(to: setup.directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
        let serve = try RunningProcess(CLI.binary, arguments: ["serve"], environment: setup.environment)
        let all = Recorder<String>()
        for await line in serve.lines { all.append(line) }
        #expect(await serve.exitStatus() == 1)
        #expect(all.all.joined(separator: "\n").contains("rules.yaml:1:1: clusterLable: unknown key"))
        await sim.stop()
    }

    @Test func flagsWinOverTheEnvironment() async throws {
        let sim = try await SimHarness.start()
        let setup = try setup(sim)
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let serve = try RunningProcess(CLI.binary, arguments: ["serve", "--tls-cert", "/nonexistent/tls.crt"], environment: setup.environment)
        let all = Recorder<String>()
        for await line in serve.lines { all.append(line) }
        #expect(await serve.exitStatus() == 1)
        #expect(all.all.joined(separator: "\n").contains("cannot read the TLS certificate /nonexistent/tls.crt"))
        await sim.stop()
    }
}
