import ArgumentParser
import DispatchCore
import DispatchDoctor
import Foundation
import KubeClient
import KubeModels

/// `direktiv-dispatch doctor`: checks a cluster's setup for the agent, link by link.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the cluster's setup: node labels, Liqo offloading and peering, Knative, the engine's proxy, the webhook.",
        discussion:
            "Prints each check with pass, warn or fail, why a problem matters and the exact fix. Exits 1 when a check fails. --fix creates missing NamespaceOffloadings and labels unlabelled local nodes, prints what it changed, and checks again."
    )

    @Option(help: "The kubeconfig of the main cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster).")
    var kubeconfig: String?

    @Option(help: "The rules YAML file the agent runs with (defaults apply when omitted).")
    var rules: String?

    @Option(help: "table or json.")
    var output: ExplainCommand.Output = .table

    @Flag(help: "Apply the safe fixes (missing NamespaceOffloadings, labels on local nodes), then check again.")
    var fix = false

    @Option(help: "Direktiv's namespace.")
    var direktivNamespace = "direktiv"

    @Option(help: "The engine's Deployment in Direktiv's namespace.")
    var engineDeployment = "direktiv-flow"

    @Option(help: "The agent's proxy URL as the engine should have it (the chart's NOTES.txt prints it). [DISPATCH_ENGINE_PROXY_URL]")
    var proxyUrl: String?

    @Option(help: "The agent's MutatingWebhookConfiguration.")
    var webhookConfiguration = "direktiv-dispatch"

    @Option(help: "The Secret holding the webhook's serving certificate (NAMESPACE/NAME, key tls.crt), to compare with caBundle.")
    var tlsSecret: String?

    @Option(help: "Knative Serving's namespace.")
    var knativeNamespace = "knative-serving"

    @Option(help: "The cluster name --fix gives unlabelled local nodes (default: the one most local nodes carry).")
    var localCluster: String?

    func run() async throws {
        var settings = Doctor.Settings(rules: try RulesFile.load(rules))
        settings.direktivNamespace = direktivNamespace
        settings.engineDeployment = engineDeployment
        settings.agentProxyURL = proxyUrl ?? ProcessInfo.processInfo.environment["DISPATCH_ENGINE_PROXY_URL"].flatMap { $0.isEmpty ? nil : $0 }
        if let url = settings.agentProxyURL, ProxyURL(url) == nil { throw ValidationError("--proxy-url: \"\(url)\" is not an http(s) URL") }
        settings.webhookConfiguration = webhookConfiguration
        settings.knativeNamespace = knativeNamespace
        settings.localCluster = localCluster
        let secret = try tlsSecret.map { value -> (String, String) in
            let parts = value.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--tls-secret is NAMESPACE/NAME") }
            return (parts[0], parts[1])
        }

        let client = try KubeClient(configuration: try KubeConfiguration.resolve(kubeconfig: kubeconfig))
        let report: DoctorReport
        var changes: [String] = []
        do {
            let certificate = await secret.asyncMap { await DoctorFacts.certificate(client: client, secret: $0.1, namespace: $0.0) } ?? nil
            var facts = try await DoctorFacts.gather(client: client, settings: settings, servingCertificatePEM: certificate)
            if fix {
                for planned in DoctorFix.plan(facts, settings: settings) {
                    do {
                        try await planned.apply(client: client)
                        changes.append(planned.description)
                    } catch {
                        changes.append("could not: \(planned.description): \(error)")
                    }
                }
                if !changes.isEmpty { facts = try await DoctorFacts.gather(client: client, settings: settings, servingCertificatePEM: certificate) }
            }
            report = Doctor.examine(facts, settings: settings)
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw ValidationError("cannot read the cluster: \(error)")
        }
        switch output {
        case .table:
            if fix { print(changes.isEmpty ? "--fix: nothing to change\n" : "--fix:\n" + changes.map { "  \($0)" }.joined(separator: "\n") + "\n") }
            print(report.render(), terminator: "")
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            var value = try JSONValue(encoding: report)
            if fix, var fields = value.objectValue {
                fields["changes"] = .array(changes.map(JSONValue.string))
                value = .object(fields)
            }
            print(String(decoding: try encoder.encode(value), as: UTF8.self))
        }
        if report.hasFailures { throw ExitCode(1) }
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async -> T) async -> T? {
        guard let self else { return nil }
        return await transform(self)
    }
}
