import DispatchAgent
import DispatchCertificates
import DispatchCore
import DispatchMetrics
import DispatchPrometheus
import DispatchProxy
import Foundation
import KubeClient
import KubeModels
import KubeSim
import Logging
import NIOCore
import Synchronization
import TestSupport
import Testing

/// The rotation plan with plain values: what a Secret becomes at a given time.
@Suite struct WebhookCARotationTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    var policy: WebhookCARotation.Policy {
        var policy = WebhookCARotation.Policy()
        policy.caValidity = 100 * 86_400
        policy.renewBefore = 20 * 86_400
        policy.activationDelay = 600
        return policy
    }

    func generate(_ now: Date) throws -> CertificateAuthority {
        try CertificateAuthority(commonName: "test-ca", validFor: policy.caValidity, now: now)
    }

    func certificates(in bundle: String) -> Int { bundle.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1 }

    @Test func aFullRotationKeepsTheOldCATrustedUntilItExpires() throws {
        let (first, created) = try WebhookCARotation.plan(.init(), now: start, policy: policy, generate: generate)
        #expect(created == [.created])
        let original = try #require(first.active)

        // Nothing is due for 80 days.
        let (quiet, none) = try WebhookCARotation.plan(first, now: start.addingTimeInterval(79 * 86_400), policy: policy, generate: generate)
        #expect(none.isEmpty)
        #expect(quiet.active?.certificatePEM == original.certificatePEM)

        // 20 days before expiry the next CA joins the bundle, not yet active.
        let renewal = start.addingTimeInterval(81 * 86_400)
        let (pending, added) = try WebhookCARotation.plan(first, now: renewal, policy: policy, generate: generate)
        #expect(added == [.addedNext])
        #expect(pending.active?.certificatePEM == original.certificatePEM)
        #expect(certificates(in: pending.bundle) == 2)
        #expect(pending.next?.activatesAt == renewal.addingTimeInterval(600))

        // Read back from the Secret's data it is the same state: another replica agrees.
        let reread = WebhookCARotation.Stored(data: pending.data)
        #expect(reread.next?.ca.certificatePEM == pending.next?.ca.certificatePEM)
        #expect(reread.next?.activatesAt == pending.next?.activatesAt)
        let (unchanged, nothing) = try WebhookCARotation.plan(reread, now: renewal.addingTimeInterval(599), policy: policy, generate: generate)
        #expect(nothing.isEmpty)
        #expect(unchanged.bundle == pending.bundle)

        // After the delay the next CA is active and the old one retired, still trusted.
        let (switched, activated) = try WebhookCARotation.plan(reread, now: renewal.addingTimeInterval(600), policy: policy, generate: generate)
        #expect(activated == [.activatedNext])
        #expect(switched.active?.certificatePEM == pending.next?.ca.certificatePEM)
        #expect(switched.retired.map(\.pem) == [original.certificatePEM])
        #expect(certificates(in: switched.bundle) == 2)

        // Once the old CA expires it leaves the bundle.
        let (settled, dropped) = try WebhookCARotation.plan(
            WebhookCARotation.Stored(data: switched.data), now: start.addingTimeInterval(100 * 86_400 + 1), policy: policy, generate: generate)
        #expect(dropped == [.droppedRetired(1)])
        #expect(certificates(in: settled.bundle) == 1)
        #expect(settled.active?.certificatePEM == switched.active?.certificatePEM)
    }

    @Test func aCALeftToExpireIsReplacedAtOnce() throws {
        let (first, _) = try WebhookCARotation.plan(.init(), now: start, policy: policy, generate: generate)
        let (replaced, changes) = try WebhookCARotation.plan(first, now: start.addingTimeInterval(200 * 86_400), policy: policy, generate: generate)
        #expect(changes == [.created])
        #expect(replaced.active?.certificatePEM != first.active?.certificatePEM)
        #expect(replaced.retired.isEmpty, "an expired CA is worth nothing in the bundle")
    }

    @Test func aDamagedSecretIsRepairedNotTrustedHalfway() throws {
        let (first, _) = try WebhookCARotation.plan(.init(), now: start, policy: policy, generate: generate)
        var data = first.data
        data[WebhookCARotation.Key.privateKey] = try generate(start).privateKeyPEM  // a key of another CA
        let damaged = WebhookCARotation.Stored(data: data)
        #expect(damaged.active == nil)
        let (_, changes) = try WebhookCARotation.plan(damaged, now: start, policy: policy, generate: generate)
        #expect(changes == [.created])
    }

    @Test func servingCertificatesNeverOutliveTheirCA() throws {
        let ca = try generate(start)
        let issued = try ca.issue(commonName: "webhook", dnsNames: ["webhook.ns.svc"], ipAddresses: [], validFor: 365 * 86_400, now: start)
        #expect(issued.notValidAfter == ca.notValidAfter)
        #expect(ca.signed(issued.certificatePEM))
        #expect(try !generate(start).signed(issued.certificatePEM))
    }

    @Test func caBundlePatchTestsEachWebhookByNameAndSkipsWhatTrustsAlready() {
        let configuration: JSONValue = [
            "webhooks": [
                ["name": "a.dispatch.direktiv.io", "clientConfig": ["caBundle": "b2xk"]],
                ["name": "b.dispatch.direktiv.io", "clientConfig": ["caBundle": "bmV3"]],
            ]
        ]
        let operations = WebhookCertificateManager.caBundleOperations(configuration, bundle: "bmV3")
        #expect(
            operations == [
                JSONPatchOperation(op: .test, path: "/webhooks/0/name", value: "a.dispatch.direktiv.io"),
                JSONPatchOperation(op: .add, path: "/webhooks/0/clientConfig/caBundle", value: "bmV3"),
            ])
    }
}

/// The agent managing its own webhook certificate against KubeSim, which verifies every webhook
/// call against the configuration's `caBundle` as kube-apiserver does.
@Suite(.serialized) struct WebhookCertificateEndToEndTests {
    static let secret = "direktiv-dispatch-webhook-ca"
    static let namespace = "direktiv-dispatch"

    static func managed(interval: Duration = .seconds(3600)) -> WebhookCertificateManager.Settings {
        var settings = WebhookCertificateManager.Settings(
            caSecret: secret, webhookConfiguration: WebhookRegistration.name, dnsNames: ["direktiv-dispatch-webhook.direktiv-dispatch.svc"])
        settings.ipAddresses = ["127.0.0.1"]
        settings.interval = interval
        settings.policy.caValidity = 10 * 86_400
        settings.policy.renewBefore = 5 * 86_400
        settings.policy.activationDelay = 1
        // A serving certificate is issued again when 5 days are left: never at a clock so far
        // ahead that real TLS would find it not yet valid.
        settings.servingValidity = 15 * 86_400
        return settings
    }

    func bundleCertificates(_ client: KubeClient) async throws -> [String] {
        let configuration = try await client.get(JSONValue.self, .mutatingWebhookConfigurations, name: WebhookRegistration.name)
        let encoded = try #require(configuration[path: "webhooks"]?[0]?[path: "clientConfig", "caBundle"]?.stringValue)
        let pem = String(decoding: try #require(Data(base64Encoded: encoded)), as: UTF8.self)
        return pem.components(separatedBy: "-----END CERTIFICATE-----").dropLast().map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines) + "\n-----END CERTIFICATE-----"
        }
    }

    /// `direktiv_dispatch_webhook_certificate_expiry_timestamp_seconds{certificate=...}` as scraped.
    func expiry(_ agent: AgentHarness, _ certificate: String) -> Double? {
        let prefix = #"direktiv_dispatch_webhook_certificate_expiry_timestamp_seconds{certificate="\#(certificate)"} "#
        return String(buffer: agent.prometheus.render()).split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap {
            Double($0.dropFirst(prefix.count))
        }
    }

    func secretData(_ client: KubeClient) async throws -> [String: String] {
        let secret = try await client.get(Secret.self, .secrets, name: Self.secret, namespace: Self.namespace)
        // Trimmed, as the bundle's certificates are compared.
        return (secret.data ?? [:]).mapValues { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// A Knative Service created through KubeSim is placed: the webhook was called over TLS that
    /// KubeSim verified against the caBundle (failurePolicy Fail would refuse it otherwise).
    func createPlaced(_ name: String, client: KubeClient) async throws {
        var object = try exampleObject("direktiv/ksvc-0.6.7.json")
        object = object.setting("metadata", (object["metadata"] ?? [:]).setting("name", .string(name)))
        let created = try await client.create(object, .knativeServices, namespace: Scenario.functionsNamespace)
        #expect(created[path: "metadata", "annotations", FunctionIdentity.clusterAnnotation] != nil, "placed through the webhook")
    }

    @Test func theAgentCreatesItsCAServesFromItAndRotatesWithoutABreak() async throws {
        let sim = try await SimHarness.start()
        let realNow = Date()
        // The clock starts six days back, so the first CA (ten days) is due for renewal "now".
        let clock = Mutex(realNow.addingTimeInterval(-6 * 86_400))
        let agent = try await AgentHarness.start(
            sim: sim, rules: try exampleRulesYAML(),
            configure: {
                $0.namespace = Self.namespace
                $0.managedWebhookCertificate = Self.managed()
            },
            now: { clock.withLock { $0 } })
        let client = try sim.client()
        try await withTeardown {
            let manager = try #require(agent.agent.certificateManager)
            // The harness registered the webhook with a CA the agent never had, as a chart
            // rendered elsewhere would: the agent's round replaces it.
            try await manager.reconcile()
            let data = try await secretData(client)
            let first = try #require(data[WebhookCARotation.Key.certificate])
            #expect(try await bundleCertificates(client) == [first])
            #expect(manager.servedCA?.trimmingCharacters(in: .whitespacesAndNewlines) == first)
            try await createPlaced("created-with-the-first-ca", client: client)
            // The expiry alert's metric: the CA's, and the served certificate's within it.
            let firstCA = try CertificateAuthority(certificatePEM: first, privateKeyPEM: try #require(data[WebhookCARotation.Key.privateKey]))
            #expect(expiry(agent, "ca") == firstCA.notValidAfter.timeIntervalSince1970)
            #expect(try #require(expiry(agent, "serving")) <= firstCA.notValidAfter.timeIntervalSince1970)

            // A second replica adopts the same CA rather than making its own.
            let replica = WebhookCertificateManager(
                settings: Self.managed(), namespace: Self.namespace, client: client,
                certificates: CertificateReloader(certificatePath: nil, keyPath: nil, logger: Logger(label: "replica")),
                now: { clock.withLock { $0 } }, logger: Logger(label: "replica"))
            try await replica.reconcile()
            #expect(replica.servedCA?.trimmingCharacters(in: .whitespacesAndNewlines) == first)

            // Renewal: the next CA joins the bundle, the served certificate stays the old CA's.
            clock.withLock { $0 = realNow }
            try await manager.reconcile()
            let next = try #require(try await secretData(client)[WebhookCARotation.Key.nextCertificate])
            #expect(try await bundleCertificates(client) == [first, next])
            #expect(manager.servedCA?.trimmingCharacters(in: .whitespacesAndNewlines) == first)
            try await createPlaced("created-during-the-switch", client: client)

            // Activation: served from the new CA while the old one stays trusted.
            clock.withLock { $0 = realNow.addingTimeInterval(2) }
            try await manager.reconcile()
            #expect(manager.servedCA?.trimmingCharacters(in: .whitespacesAndNewlines) == next)
            #expect(try await bundleCertificates(client) == [next, first])
            let nextCA = try CertificateAuthority(
                certificatePEM: next, privateKeyPEM: try #require(try await secretData(client)[WebhookCARotation.Key.privateKey]))
            #expect(expiry(agent, "ca") == nextCA.notValidAfter.timeIntervalSince1970)
            try await createPlaced("created-with-the-second-ca", client: client)
            // The replica follows at its next round.
            try await replica.reconcile()
            #expect(replica.servedCA?.trimmingCharacters(in: .whitespacesAndNewlines) == next)

            // The old CA's expiry takes it out of the bundle.
            clock.withLock { $0 = realNow.addingTimeInterval(4 * 86_400 + 60) }
            try await manager.reconcile()
            #expect(try await bundleCertificates(client) == [next])
            try await createPlaced("created-after-the-rotation", client: client)
        } teardown: {
            try? await client.shutdown()
            await agent.stop()
            await sim.stop()
        }
    }

    @Test func twoReplicasStartingTogetherShareOneCA() async throws {
        let sim = try await SimHarness.start()
        let client = try sim.client()
        try await withTeardown {
            let managers = (0..<2).map { index in
                WebhookCertificateManager(
                    settings: Self.managed(), namespace: Self.namespace, client: client,
                    certificates: CertificateReloader(certificatePath: nil, keyPath: nil, logger: Logger(label: "r\(index)")),
                    logger: Logger(label: "r\(index)"))
            }
            async let a = managers[0].reconcile()
            async let b = managers[1].reconcile()
            let (first, second) = try await (a, b)
            #expect(first.active?.certificatePEM == second.active?.certificatePEM)
            #expect(managers[0].servedCA == managers[1].servedCA)
            #expect(try await secretData(client)[WebhookCARotation.Key.certificate] == first.active?.certificatePEM)
        } teardown: {
            try? await client.shutdown()
            await sim.stop()
        }
    }
}
