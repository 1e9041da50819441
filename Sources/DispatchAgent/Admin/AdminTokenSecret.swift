import Foundation
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle

/// Keeps the admin token in a Secret the agent creates when it is missing, so that the chart
/// needs neither a value nor a `lookup` and renders the same bytes every time.
///
/// Every replica reads the Secret at start and every `interval` and installs its `token` into
/// the ``AdminToken``; the first replica to find it missing creates it with 32 random bytes
/// (hex), and a replica that loses that race (409) reads the winner's. Rotating is editing the
/// Secret: replicas pick the new value up at their next read.
public final class AdminTokenSecret: Service, Sendable {
    public static let key = "token"
    public let name: String
    private let namespace: String
    private let client: KubeClient
    private let token: AdminToken
    private let interval: Duration
    private let logger: Logger

    public init(name: String, namespace: String, client: KubeClient, token: AdminToken, interval: Duration = .seconds(30), logger: Logger) {
        self.name = name
        self.namespace = namespace
        self.client = client
        self.token = token
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await reconcileUntilShutdown(
            every: interval, logger: logger, failure: "cannot read the admin token Secret", metadata: ["secret": "\(namespace)/\(name)"]
        ) {
            try await self.reconcile()
        }
    }

    /// Reads the Secret, creating it first when missing, and installs its token.
    public func reconcile() async throws {
        for _ in 0..<3 {
            do {
                let secret = try await client.get(Secret.self, .secrets, name: name, namespace: namespace)
                let value = secret.text(Self.key) ?? ""
                if value.isEmpty {
                    logger.warning(
                        "the admin token Secret has no token: mutating admin calls are refused",
                        metadata: ["secret": "\(namespace)/\(name)", "key": "\(Self.key)"])
                }
                token.install(value)
                return
            } catch let error as KubeAPIError where error.isNotFound {
                do {
                    try await create()
                    logger.notice("created the admin token Secret", metadata: ["secret": "\(namespace)/\(name)"])
                } catch let error as KubeAPIError where error.isAlreadyExists {
                    // Another replica created it meanwhile; read theirs.
                }
            }
        }
    }

    private func create() async throws {
        var generator = SystemRandomNumberGenerator()
        let value = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let secret = Secret(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: ["app.kubernetes.io/managed-by": "direktiv-dispatch"]),
            data: [Self.key: Data(value.utf8)])
        _ = try await client.create(secret, .secrets, namespace: namespace, fieldManager: "direktiv-dispatch")
    }
}
