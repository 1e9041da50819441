import DispatchCertificates
import DispatchMetrics
import Foundation
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle

/// Keeps the webhook's TLS in the agent's own hands, so that the chart renders the same bytes on
/// every `helm template` (GitOps) and no hook or cert-manager is needed.
///
/// Every replica, at start and every `interval`:
/// 1. reads the CA Secret and applies ``WebhookCARotation/plan(_:now:policy:generate:)``,
///    creating the Secret when missing and writing with the read `resourceVersion` (a conflict
///    means the other replica wrote first: read again and re-plan);
/// 2. makes every webhook of the MutatingWebhookConfiguration trust the resulting bundle (a JSON
///    patch that tests each webhook's name at its index, so a list changed meanwhile is refused
///    rather than patched at the wrong place);
/// 3. serves, from memory, a certificate for the webhook Service's names signed by the active CA,
///    issued again when the active CA changes or a third of its life is left.
///
/// A failed round is logged and retried at the next; the last serving certificate stays in use.
public final class WebhookCertificateManager: Service, Sendable {
    /// What to manage and how long things live.
    public struct Settings: Sendable {
        /// Secret in the agent's namespace holding the CA (``WebhookCARotation/Key``).
        public var caSecret: String
        /// The MutatingWebhookConfiguration whose `caBundle` is kept.
        public var webhookConfiguration: String
        /// Names the API server reaches the webhook by.
        public var dnsNames: [String]
        /// Addresses it reaches the webhook by, for a `clientConfig.url` with an IP (tests).
        public var ipAddresses: [String] = []
        public var policy = WebhookCARotation.Policy()
        /// Life of a serving certificate (never past its CA's).
        public var servingValidity: TimeInterval = 30 * 24 * 3600
        public var interval: Duration = .seconds(30)

        public init(caSecret: String, webhookConfiguration: String, dnsNames: [String]) {
            self.caSecret = caSecret
            self.webhookConfiguration = webhookConfiguration
            self.dnsNames = dnsNames
        }
    }

    public let settings: Settings
    private let namespace: String
    private let client: KubeClient
    private let certificates: CertificateReloader
    private let metrics: DispatchMetrics
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let served = LockedValue<(caPEM: String, notValidAfter: Date)?>(nil)

    public init(
        settings: Settings, namespace: String, client: KubeClient, certificates: CertificateReloader, metrics: DispatchMetrics = DispatchMetrics(),
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.settings = settings
        self.namespace = namespace
        self.client = client
        self.certificates = certificates
        self.metrics = metrics
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        await reconcileUntilShutdown(every: settings.interval, logger: logger, failure: "cannot manage the webhook certificate") {
            try await self.reconcile()
        }
    }

    /// One round; returns the bundle the webhook configuration now trusts.
    @discardableResult
    public func reconcile() async throws -> WebhookCARotation.Stored {
        let stored = try await settledSecret()
        guard let active = stored.active else { throw ManagementError("the CA Secret has no active CA after planning") }
        try await trust(stored.bundle)
        try serve(active)
        return stored
    }

    /// The CA Secret after this round's plan, written if the plan changed it.
    private func settledSecret() async throws -> WebhookCARotation.Stored {
        for _ in 0..<5 {
            let (current, resourceVersion) = try await readSecret()
            let time = now()
            let policy = settings.policy
            let (planned, changes) = try WebhookCARotation.plan(current, now: time, policy: policy) {
                try CertificateAuthority(commonName: policy.commonName, validFor: policy.caValidity, now: $0)
            }
            if changes.isEmpty { return planned }
            do {
                try await writeSecret(planned.data, resourceVersion: resourceVersion)
                for change in changes { logger.notice("webhook CA: \(change)", metadata: ["secret": "\(namespace)/\(settings.caSecret)"]) }
                return planned
            } catch let error as KubeAPIError where error.code == 409 {
                // The other replica wrote first; its decision stands, read it.
                continue
            }
        }
        throw ManagementError("the CA Secret \(namespace)/\(settings.caSecret) kept changing under five attempts")
    }

    private func readSecret() async throws -> (WebhookCARotation.Stored, resourceVersion: String?) {
        do {
            let secret = try await client.get(Secret.self, .secrets, name: settings.caSecret, namespace: namespace)
            let data = (secret.data ?? [:]).mapValues { String(decoding: $0, as: UTF8.self) }
            return (WebhookCARotation.Stored(data: data), secret.metadata.resourceVersion ?? "")
        } catch let error as KubeAPIError where error.isNotFound {
            return (WebhookCARotation.Stored(), nil)
        }
    }

    /// Creates the Secret (`resourceVersion` nil: it did not exist) or replaces the version read.
    private func writeSecret(_ data: [String: String], resourceVersion: String?) async throws {
        let secret = Secret(
            metadata: ObjectMeta(
                name: settings.caSecret, namespace: namespace,
                labels: ["app.kubernetes.io/managed-by": "direktiv-dispatch", "app.kubernetes.io/component": "webhook-ca"],
                resourceVersion: resourceVersion),
            data: data.mapValues { Data($0.utf8) })
        if resourceVersion != nil {
            _ = try await client.update(secret, .secrets, name: settings.caSecret, namespace: namespace)
        } else {
            _ = try await client.create(secret, .secrets, namespace: namespace, fieldManager: "direktiv-dispatch")
        }
    }

    /// Makes every webhook of the configuration trust `bundle`.
    private func trust(_ bundle: String) async throws {
        let encoded = Data(bundle.utf8).base64EncodedString()
        let configuration: JSONValue
        do {
            configuration = try await client.get(JSONValue.self, .mutatingWebhookConfigurations, name: settings.webhookConfiguration)
        } catch let error as KubeAPIError where error.isNotFound {
            // Nothing calls the webhook yet; the next round patches it once it exists.
            logger.warning(
                "the MutatingWebhookConfiguration does not exist; its caBundle will be set once it does",
                metadata: ["name": "\(settings.webhookConfiguration)"])
            return
        }
        let operations = Self.caBundleOperations(configuration, bundle: encoded)
        guard !operations.isEmpty else { return }
        _ = try await client.patch(JSONValue.self, .mutatingWebhookConfigurations, name: settings.webhookConfiguration, patch: .json(operations))
        logger.notice("set the webhook's caBundle", metadata: ["name": "\(settings.webhookConfiguration)", "webhooks": "\(operations.count / 2)"])
    }

    /// The JSON patch giving every webhook `bundle` (base64), each guarded by a test of the
    /// webhook's name; empty when all trust it already.
    public static func caBundleOperations(_ configuration: JSONValue, bundle: String) -> [JSONPatchOperation] {
        var operations: [JSONPatchOperation] = []
        for (index, webhook) in (configuration["webhooks"]?.arrayValue ?? []).enumerated() {
            guard webhook[path: "clientConfig", "caBundle"]?.stringValue != bundle, let name = webhook["name"] else { continue }
            operations.append(JSONPatchOperation(op: .test, path: "/webhooks/\(index)/name", value: name))
            operations.append(JSONPatchOperation(op: .add, path: "/webhooks/\(index)/clientConfig/caBundle", value: .string(bundle)))
        }
        return operations
    }

    /// Serves a certificate of `active`, issuing one when none is served, another CA signed the
    /// served one, or a third of its life is left.
    private func serve(_ active: CertificateAuthority) throws {
        let time = now()
        if let current = served.get(), current.caPEM == active.certificatePEM,
            current.notValidAfter.timeIntervalSince(time) > settings.servingValidity / 3
        {
            return
        }
        let issued = try active.issue(
            commonName: settings.dnsNames.first ?? "direktiv-dispatch-webhook", dnsNames: settings.dnsNames, ipAddresses: settings.ipAddresses,
            validFor: settings.servingValidity, now: time)
        try certificates.install(certificatePEM: issued.certificatePEM, privateKeyPEM: issued.privateKeyPEM)
        served.set((active.certificatePEM, issued.notValidAfter))
        metrics.webhookCertificateExpiry("ca", at: active.notValidAfter.timeIntervalSince1970)
        logger.notice("serving a new webhook certificate", metadata: ["expires": "\(issued.notValidAfter.formatted(.iso8601))"])
    }

    /// The CA that signed the certificate served now, PEM.
    public var servedCA: String? { served.get()?.caPEM }

    struct ManagementError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
