import DispatchCore
import Foundation
import KubeModels
import SwiftASN1
import X509

extension Doctor {
    /// The agent's MutatingWebhookConfiguration exists, trusts the serving certificate and
    /// covers both kinds in every functions namespace.
    static func webhook(_ context: Context) -> [DoctorFinding] {
        let check = "webhook"
        let name = context.settings.webhookConfiguration
        let configuration: JSONValue
        switch context.facts.webhookConfiguration {
        case .found(let object): configuration = object
        case .missing:
            return [
                DoctorFinding(
                    check: check, status: .fail, detail: "MutatingWebhookConfiguration \(name) does not exist",
                    why: "the API server never asks the agent: no function is placed",
                    fix: "install (or upgrade) the direktiv-dispatch chart, which creates it; or name it: doctor --webhook-configuration NAME")
            ]
        case .unreadable(let why):
            return [DoctorFinding(check: check, status: .warn, detail: "cannot read MutatingWebhookConfiguration \(name): \(why)")]
        }
        let webhooks = configuration["webhooks"]?.arrayValue ?? []
        var problems: [String] = []
        var kinds: [(group: String, resource: String)] = [("apps", "deployments")]
        if context.facts.knativeServed { kinds.insert(("serving.knative.dev", "services"), at: 0) }
        let namespaces = context.facts.namespaces.items
        for namespace in context.rules.functionsNamespaces {
            guard let object = namespaces.first(where: { $0.name == namespace }) else {
                problems.append("functions namespace \(namespace) does not exist")
                continue
            }
            for kind in kinds where !webhooks.contains(where: { covers($0, kind.group, kind.resource, object) }) {
                problems.append("no webhook covers CREATE of \(kind.resource).\(kind.group) in \(namespace)")
            }
        }
        if !problems.isEmpty {
            return [
                DoctorFinding(
                    check: check, status: .fail, detail: "\(name): \(problems.joined(separator: "; "))",
                    why: "functions the webhook does not see are admitted without placement (or not at all)",
                    fix:
                        "list the namespace in the chart's rules.functionsNamespaces and upgrade the release (the chart derives the selector and rules)"
                )
            ]
        }
        // The certificate the API server checks the agent against.
        let bundles = webhooks.compactMap { $0[path: "clientConfig", "caBundle"]?.stringValue }
        guard let bundle = bundles.first, !bundle.isEmpty else {
            let injected = configuration[path: "metadata", "annotations", "cert-manager.io/inject-ca-from"] != nil
            return [
                DoctorFinding(
                    check: check, status: injected ? .warn : .fail, detail: "\(name) has no caBundle",
                    why: injected
                        ? "cert-manager's cainjector has not filled it yet"
                        : "the API server cannot verify the agent: every call to the webhook fails",
                    fix: injected
                        ? "kubectl -n cert-manager logs deploy/cert-manager-cainjector"
                        : "upgrade the chart, or let the agent manage it (--webhook-ca-secret)")
            ]
        }
        guard let serving = context.facts.servingCertificatePEM else {
            return [
                DoctorFinding(
                    check: check, status: .pass,
                    detail:
                        "\(name) covers \(kinds.map(\.resource).joined(separator: " and ")) in every functions namespace; caBundle not compared (serving certificate not known)"
                )
            ]
        }
        guard caBundle(bundle, signs: serving) else {
            return [
                DoctorFinding(
                    check: check, status: .fail, detail: "the caBundle of \(name) did not sign the certificate the webhook serves",
                    why: "the API server refuses the TLS handshake (x509: certificate signed by unknown authority): every placement fails",
                    fix:
                        "with the agent managing its CA, restart the agent pods (they rewrite caBundle); with a mounted certificate, put its CA into caBundle"
                )
            ]
        }
        return [
            DoctorFinding(
                check: check, status: .pass,
                detail:
                    "\(name) covers \(kinds.map(\.resource).joined(separator: " and ")) in every functions namespace; caBundle signed the serving certificate"
            )
        ]
    }

    /// Whether one webhook entry sends CREATE of `group/resource` in `namespace` to the agent.
    static func covers(_ webhook: JSONValue, _ group: String, _ resource: String, _ namespace: JSONValue) -> Bool {
        let rules = webhook["rules"]?.arrayValue ?? []
        let rule = rules.contains { rule in
            func has(_ key: String, _ value: String) -> Bool {
                (rule[key]?.arrayValue ?? []).contains { $0.stringValue == value || $0.stringValue == "*" }
            }
            return has("apiGroups", group) && has("resources", resource) && has("operations", "CREATE")
        }
        guard rule else { return false }
        guard let selector = webhook["namespaceSelector"] else { return true }
        return (try? LabelSelector(structured: selector))?.matches(namespace.labels) ?? false
    }

    /// Whether any certificate of a base64 PEM bundle verifies `certificatePEM`'s signature.
    static func caBundle(_ base64: String, signs certificatePEM: String) -> Bool {
        guard let data = Data(base64Encoded: base64), let leaf = try? Certificate(pemEncoded: certificatePEM),
            let documents = try? PEMDocument.parseMultiple(pemString: String(decoding: data, as: UTF8.self))
        else { return false }
        return documents.contains { document in
            guard let ca = try? Certificate(derEncoded: document.derBytes), ca.subject == leaf.issuer else { return false }
            return ca.publicKey.isValidSignature(leaf.signature, for: leaf)
        }
    }
}
