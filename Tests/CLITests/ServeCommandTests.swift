import AsyncHTTPClient
import DispatchAgent
import DispatchCertificates
import DispatchCore
import Foundation
import KubeClient
import KubeModels
import KubeSim
import NIOCore
import NIOHTTP1
import NIOSSL
import TestSupport
import Testing

@testable import DispatchProxy

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
                "DISPATCH_LONGEST_CALL_SECONDS": "5",
                "DISPATCH_DEFAULT_DEADLINE": "5",
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
        #expect(readyBody == ["ready": true, "checks": ["inventory": "ok", "rules": "ok", "tls": "ok", "overrides": "ok"]])

        // A real admission review over TLS.
        let object = try exampleObject("direktiv/ksvc-0.8.10.json")
        let review = AdmissionReview(
            request: .init(
                uid: "serve-test", kind: .knativeService,
                resource: GroupVersionResource(group: "serving.knative.dev", version: "v1", resource: "services"),
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

    @Test func aProxyWithoutEventLoopsIsRefused() async throws {
        let result = try await CLI.run(["serve", "--proxy-threads", "0"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--proxy-threads must be between 1 and 1024"), "\(result.stderr)")
    }

    /// `--proxy-cpu-affinity` from the environment to the proxy's threads: each loop on a CPU of
    /// its own with `auto`, every loop free with `off`.
    @Test(arguments: ["auto", "off"])
    func theProxyLoopsArePinnedAsConfigured(affinity: String) async throws {
        let allowed = try #require(ProxyCPUAffinity.allowedCPUs())
        // With one CPU there is nothing to keep apart and nothing is pinned.
        guard allowed.count > 1 else { return }
        let sim = try await SimHarness.start()
        let setup = try setup(sim)
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        var environment = setup.environment
        environment["DISPATCH_PROXY_THREADS"] = String(allowed.count)
        environment["DISPATCH_PROXY_CPU_AFFINITY"] = affinity
        let serve = try RunningProcess(CLI.binary, arguments: ["serve"], environment: environment)
        defer { serve.stop() }
        _ = try await next(serve.lines, within: .seconds(30)) { $0.contains("proxy listening") }

        let tasks = "/proc/\(serve.process.processIdentifier)/task"
        var pinned: [Int] = []
        for task in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            let name = try String(contentsOfFile: "\(tasks)/\(task)/comm", encoding: .utf8)
            guard name.hasPrefix("NIO-ELT-") else { continue }
            let status = try String(contentsOfFile: "\(tasks)/\(task)/status", encoding: .utf8)
            let list = try #require(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
            let cpus = try #require(ProxyCPUAffinity.cpus(inList: list.dropFirst("Cpus_allowed_list:".count)))
            if cpus != allowed { pinned += cpus }
        }
        #expect(pinned.sorted() == (affinity == "auto" ? allowed.sorted() : []))
        serve.signal(SIGTERM)
        #expect(await serve.exitStatus() == 0)
        await sim.stop()
    }

    @Test func anUnknownCPUAffinityIsRefused() async throws {
        let result = try await CLI.run(["serve", "--proxy-cpu-affinity", "always"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--proxy-cpu-affinity must be auto or off, not always"), "\(result.stderr)")
    }

    /// Issue 23, item 3: a drain shorter than the longest call would cut calls on every rollout.
    @Test(arguments: [
        (["--drain-seconds", "10"], "--drain-seconds (10) must be at least the longest call (600 s"),
        (
            ["--longest-call-seconds", "60", "--default-deadline", "30", "--drain-seconds", "59"],
            "--drain-seconds (59) must be at least the longest call (60 s"
        ),
        (["--longest-call-seconds", "60"], "--default-deadline (300.0 seconds) must not exceed --longest-call-seconds (60.0 seconds)"),
    ])
    func aDrainShorterThanTheLongestCallIsRefused(arguments: [String], message: String) async throws {
        let result = try await CLI.run(["serve"] + arguments)
        #expect(result.status == 1)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    /// Issue 23, item 4: the agent keeps its webhook CA only with all three names, and never
    /// while it is also told to read certificate files (from a flag or the environment).
    @Test(arguments: [
        (["--webhook-ca-secret", "ca"], [String: String](), "go together"),
        (["--webhook-configuration", "dispatch", "--webhook-service", "dispatch-webhook"], [:], "go together"),
        (
            ["--webhook-ca-secret", "ca", "--webhook-configuration", "dispatch", "--webhook-service", "dispatch-webhook", "--tls-cert", "/x.crt"],
            [:], "exclude each other"
        ),
        (
            ["--webhook-ca-secret", "ca", "--webhook-configuration", "dispatch", "--webhook-service", "dispatch-webhook"],
            ["DISPATCH_TLS_KEY": "/x.key"], "exclude each other"
        ),
    ])
    func theAgentKeepsItsCAOnlyWhenToldWholly(arguments: [String], environment: [String: String], message: String) async throws {
        let serve = try RunningProcess(CLI.binary, arguments: ["serve"] + arguments, environment: environment)
        let all = Recorder<String>()
        for await line in serve.lines { all.append(line) }
        #expect(await serve.exitStatus() == 1)
        #expect(all.all.joined(separator: "\n").contains(message), "\(all.all)")
    }
}

/// `sim` and `serve` as two processes, as in the README: the resolver file carries the
/// function endpoints from one to the other.
@Suite(.serialized) struct SimAndServeTests {
    @Test func aFunctionPlacedByServeIsCalledThroughItsProxy() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sim-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let kubeconfig = directory.appendingPathComponent("kubeconfig").path
        let resolver = directory.appendingPathComponent("resolver.json").path

        let sim = try RunningProcess(
            CLI.binary, arguments: ["sim", "--port", "0", "--kubeconfig-out", kubeconfig, "--resolver-out", resolver], output: .standardOutput)
        defer { sim.stop() }
        // Both files are written before these lines: the resolver file once the function
        // endpoints listen, the kubeconfig once the API server does.
        let announced = Recorder<String>()
        _ = try await next(sim.lines, within: .seconds(30)) { line in
            if line.hasPrefix("resolver file:") || line.hasPrefix("kubeconfig:") { announced.append(line) }
            return announced.all.count == 2
        }

        let ca = try CertificateAuthority(commonName: "webhook-ca")
        let issued = try ca.issue(commonName: "direktiv-dispatch")
        try issued.certificatePEM.write(to: directory.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        try issued.privateKeyPEM.write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        try exampleRulesYAML().write(to: directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
        let (webhookPort, proxyPort, adminPort, metricsPort) = (try freePort(), try freePort(), try freePort(), try freePort())
        let serve = try RunningProcess(
            CLI.binary,
            arguments: [
                "serve", "--kubeconfig", kubeconfig, "--rules", directory.appendingPathComponent("rules.yaml").path,
                "--tls-cert", directory.appendingPathComponent("tls.crt").path, "--tls-key", directory.appendingPathComponent("tls.key").path,
                "--bind-address", "127.0.0.1", "--webhook-port", String(webhookPort), "--proxy-port", String(proxyPort), "--admin-port",
                String(adminPort),
                "--metrics-port", String(metricsPort), "--knative-namespace", "knative-serving",
                "--resolver-file", resolver, "--proxy-threads", "1",
            ])
        defer { serve.stop() }
        _ = try await next(serve.lines, within: .seconds(30)) { $0.contains("inventory synced") }

        let client = try KubeClient(configuration: try KubeConfiguration.resolve(kubeconfig: kubeconfig))
        do {
            _ = try await client.create(
                webhookConfiguration(url: "https://127.0.0.1:\(webhookPort)/mutate", caPEM: ca.certificatePEM), .mutatingWebhookConfigurations)
            let spec = FunctionSpec(namespace: "team-a", name: "hello", image: "direktiv/hello:v1", size: .small, minScale: 1)
            let created = try await client.create(
                try DirektivServiceBuilder.knativeService(spec, namespace: Scenario.functionsNamespace, sizes: .direktivDefaults, sidecarImage: nil),
                .knativeServices, namespace: Scenario.functionsNamespace)
            let cluster = try #require(created[path: "metadata", "annotations", "dispatch.direktiv.io/cluster"]?.stringValue)
            try await client.shutdown()

            // The sim writes the endpoint once the pods run; serve picks the file up.
            _ = try await next(serve.lines, within: .seconds(30)) { $0.contains("resolver file loaded") && $0.contains("hosts=1") }
            let host = "hello.\(Scenario.functionsNamespace)"
            let response = try await withHTTP1Connection(port: proxyPort) {
                try await $0.request(.POST, "http://\(host)/", headers: [("Host", host), ("Direktiv-ActionID", "cli")], body: Array("{}".utf8))
            }
            #expect(response.status == 200, "\(response.text)")
            #expect(response.headers["Kubesim-Cluster"] == [cluster])
            #expect(response.headers["Direktiv-ActionID"] == ["cli"])

            // Issue 23, item 7: scrapers get a port of their own, which serves nothing else.
            let scrape = try await withHTTP1Connection(port: metricsPort) { try await $0.request(.GET, "/metrics", headers: [("Host", "127.0.0.1")]) }
            let adminOnMetricsPort = try await withHTTP1Connection(port: metricsPort) {
                try await $0.request(.GET, "/v1/clusters", headers: [("Host", "127.0.0.1")])
            }
            #expect(adminOnMetricsPort.status == 404)
            #expect(
                scrape.text.contains(#"direktiv_dispatch_knative_feature_disabled{flag="kubernetes.podspec-affinity"} 0"#),
                "config-features read from --knative-namespace")
            #expect(
                scrape.text.contains(
                    #"direktiv_dispatch_invocations_total{direktiv_namespace="team-a",function="hello",cluster="\#(cluster)",code="200"} 1"#))
            #expect(scrape.text.contains(#"direktiv_dispatch_cluster_ready{cluster="external2"} 1"#))
            if Promtool.path != nil {
                let check = try await Promtool.check(scrape.body)
                #expect(check.status == 0, "\(check.output)")
            }

            // Issue 23, item 3: a call running when SIGTERM comes finishes, answered with
            // `Connection: close`, and only then does the agent exit. The old 10 s drain cut it.
            let slowCall = Task {
                try await withHTTP1Connection(port: proxyPort) {
                    try await $0.request(.POST, "http://\(host)/", headers: [("Host", host), ("Kubesim-Delay-Ms", "20000")], body: Array("{}".utf8))
                }
            }
            try await waitForMetric(#"direktiv_dispatch_invocations_in_flight{cluster="\#(cluster)"} 1"#, adminPort: adminPort)
            serve.signal(SIGTERM)
            let slow = try await slowCall.value
            #expect(slow.status == 200, "\(slow.text)")
            #expect(slow.headers["Connection"] == ["close"])
        } catch {
            try? await client.shutdown()
            throw error
        }
        #expect(await serve.exitStatus() == 0)
    }
}

/// Reads `/metrics` until it has `line`: the agent runs in another process, so its state can
/// only be observed, not awaited.
func waitForMetric(_ line: String, adminPort: Int, within limit: Duration = .seconds(15)) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        let scrape = try await withHTTP1Connection(port: adminPort) { try await $0.request(.GET, "/metrics", headers: [("Host", "127.0.0.1")]) }
        if scrape.text.contains(line) { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw HarnessError("/metrics never showed \(line)")
}
