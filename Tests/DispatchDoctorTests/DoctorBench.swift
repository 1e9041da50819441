import DispatchCertificates
import DispatchCore
import DispatchDoctor
import Foundation
import KubeClient
import KubeModels
import KubeSim
import TestSupport

/// KubeSim's seed setup with the agent's webhook registered as the chart registers it (its CA
/// in caBundle, failurePolicy Ignore: no agent answers here), and a client to break things with.
struct DoctorBench {
    let sim: SimHarness
    let client: KubeClient
    let ca: CertificateAuthority
    /// What the agent's webhook would serve, issued by `ca`.
    let servingPEM: String

    static func start() async throws -> DoctorBench {
        let sim = try await SimHarness.start()
        let ca = try CertificateAuthority(commonName: "direktiv-dispatch-webhook-ca")
        let serving = try ca.issue(commonName: "direktiv-dispatch.direktiv-dispatch.svc")
        try WebhookRegistration.register(
            WebhookRegistration.configuration(
                url: "https://127.0.0.1:1/mutate", caPEM: ca.certificatePEM, failurePolicy: "Ignore", namespaces: [Scenario.functionsNamespace]),
            in: sim.sim.store)
        return DoctorBench(sim: sim, client: try sim.client(), ca: ca, servingPEM: serving.certificatePEM)
    }

    static func rules() throws -> Rules { try RulesParser.parse(try exampleRulesYAML()) }

    func settings(_ rules: Rules? = nil) throws -> Doctor.Settings {
        var settings = Doctor.Settings(rules: try rules ?? Self.rules())
        settings.agentProxyURL = Scenario.engineProxyURL
        return settings
    }

    func facts(_ settings: Doctor.Settings) async throws -> DoctorFacts {
        try await DoctorFacts.gather(client: client, settings: settings, servingCertificatePEM: servingPEM)
    }

    func examine(_ settings: Doctor.Settings? = nil) async throws -> DoctorReport {
        let settings = try settings ?? self.settings()
        return Doctor.examine(try await facts(settings), settings: settings)
    }

    func stop() async {
        try? await client.shutdown()
        await sim.stop()
    }
}

extension DoctorReport {
    func findings(_ check: String) -> [DoctorFinding] { findings.filter { $0.check == check } }
    /// The failures and warnings, as `check: detail` lines.
    var problems: [String] { findings.filter { $0.status != .pass }.map { "\($0.check) \($0.status.rawValue): \($0.detail)" } }
}
