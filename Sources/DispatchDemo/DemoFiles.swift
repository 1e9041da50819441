import DispatchAgent
import DispatchCertificates
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeSim

/// The files the demo's agent reads as it would in a cluster: rules, the admin token, the
/// webhook's certificate; and the kubeconfig for kubectl.
struct DemoFiles {
    let directory: URL
    let webhookCAPEM: String
    let tokenValue: String

    var kubeconfig: URL { directory.appendingPathComponent("kubeconfig") }
    var rules: URL { directory.appendingPathComponent("rules.yaml") }
    var token: URL { directory.appendingPathComponent("admin-token") }
    var certificate: URL { directory.appendingPathComponent("tls.crt") }
    var key: URL { directory.appendingPathComponent("tls.key") }

    /// How long a cluster must be lost (or back) before functions move, in the demo's rules.
    static let failoverAfterSeconds = 2

    /// The example rules the demo places with: clusters by name, teams over the Liqo peers.
    static let rulesYAML = """
        # direktiv-dispatch demo rules (see docs/rules.md)
        clusterLabel: direktiv.io/namespace
        functionsNamespaces: [direktiv-services-direktiv]
        direktivNamespaces: [main, external1, external2, team-a, team-b, edge-eu]
        # Functions leave a lost cluster after \(failoverAfterSeconds) s and come back once it has been
        # healthy as long (60 s by default; short here so the demo does not wait a minute).
        failover: {afterSeconds: \(failoverAfterSeconds)}
        namespaces:
          # A namespace named like a cluster runs there.
          - match: main
            clusters: ["{namespace}"]
            onNoFit: reject
          - match: "external*"
            clusters: ["{namespace}"]
            onNoFit: reject
          # Team namespaces share the two Liqo peers, whichever has more room.
          - match: "team-*"
            clusters: [external1, external2]
            strategy: least-loaded
            onNoFit:
              fallback: main
          # Edge namespaces run on the peer whose calls come back fastest (Liqo's measured round
          # trip, then the agent's own); latencies within 20% or 5 ms go to the least loaded.
          - match: "edge-*"
            clusters: [external1, external2]
            strategy: lowest-latency
          # Everything else runs on the main cluster.
          - match: "*"
            clusters: [main]
            onNoFit: admit-unplaced
        sizes:
          small:  {cpu: 250m, memory: 256Mi}
          medium: {cpu: 500m, memory: 1Gi}
          large:  {cpu: "1", memory: 2Gi}

        """

    init(directory path: String?) throws {
        if let path {
            directory = URL(fileURLWithPath: path)
        } else {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "direktiv-dispatch-demo-\(UUID().uuidString.prefix(8).lowercased())")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ca = try CertificateAuthority(commonName: "direktiv-dispatch-demo-webhook-ca")
        let issued = try ca.issue(
            commonName: "direktiv-dispatch.direktiv-dispatch.svc", dnsNames: ["localhost", "direktiv-dispatch.direktiv-dispatch.svc"])
        webhookCAPEM = ca.certificatePEM
        tokenValue = UUID().uuidString.lowercased()
        try issued.certificatePEM.write(to: certificate, atomically: true, encoding: .utf8)
        try issued.privateKeyPEM.write(to: key, atomically: true, encoding: .utf8)
        try Self.rulesYAML.write(to: rules, atomically: true, encoding: .utf8)
        guard FileManager.default.createFile(atPath: token.path, contents: Data(tokenValue.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw DemoFailure(step: "start", reason: "cannot write the admin token to \(token.path)")
        }
    }

    func settings(_ options: DemoOptions) -> AgentSettings {
        var settings = AgentSettings()
        settings.rulesPath = rules.path
        settings.tlsCertificatePath = certificate.path
        settings.tlsKeyPath = key.path
        settings.adminTokenFile = token.path
        // As the chart sets it: the URL Direktiv's engine has (the seed's engine Deployment).
        settings.engineProxyURL = Scenario.engineProxyURL
        settings.bindAddress = options.host
        settings.webhookPort = options.webhookPort
        settings.proxyPort = options.proxyPort
        settings.adminPort = options.adminPort
        settings.fileCheckInterval = .seconds(1)
        settings.knativeCheckInterval = .seconds(5)
        settings.latencyInterval = .seconds(1)
        // The leader reports on the placements sooner than the default 5 s, for the last table.
        settings.placementUpkeepInterval = .seconds(1)
        return settings
    }
}

/// Where everything the demo runs can be reached.
struct DemoEndpoints: Sendable {
    var host: String
    var api: Int
    var webhook: Int
    var proxy: Int
    var admin: Int
    var kubeconfig: String
    var tokenFile: String

    var adminURL: String { "http://\(host):\(admin)" }

    /// What to try next, printed once the steps are done.
    func tryThis(duration: Duration?) -> String {
        let functionsNamespace = Scenario.functionsNamespace
        return """

            Try it (the agent and KubeSim keep running \(duration.map { "for \($0.components.seconds) s" } ?? "until Ctrl-C")):
              metrics      curl -s \(adminURL)/metrics | grep direktiv_dispatch_invocation
              clusters     curl -s \(adminURL)/v1/clusters
              functions    curl -s \(adminURL)/v1/functions
              explain      curl -s -X POST \(adminURL)/v1/placements/explain -d '{"namespace": "team-b", "size": "medium"}'
              override     curl -s -X PUT -H "Authorization: Bearer $(cat \(tokenFile))" \(adminURL)/v1/namespaces/team-b/override -d '{"pin": "main"}'
              kubectl      kubectl --kubeconfig \(kubeconfig) get ksvc,pods -n \(functionsNamespace)
              placements   kubectl --kubeconfig \(kubeconfig) get fp -o wide -n \(functionsNamespace)
              events       kubectl --kubeconfig \(kubeconfig) describe ksvc team-a-csv -n \(functionsNamespace)
              leader       curl -s \(adminURL)/v1/status
              call         curl -s -x http://\(host):\(proxy) http://main-hello.\(functionsNamespace)/ -d '{"hello": "world"}'
            """
    }
}
