import DispatchCertificates
import Foundation
import Hummingbird
import HummingbirdTLS
import KubeModels
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// A simulated Kubernetes API server for tests and the demo.
///
/// Serves the API subset direktiv-dispatch uses (core nodes, pods, namespaces, configmaps,
/// events; apps deployments; mutating webhook configurations; CustomResourceDefinitions and their
/// resources, Knative's Service and Liqo's kinds installed from the start) over HTTPS with
/// a generated CA, requires a bearer token, and behaves like the real API server for what it
/// covers, closely enough that `kubectl` works against it.
public final class KubeSim: Sendable {
    public struct Options: Sendable {
        /// How often watches that allow bookmarks get one.
        public var bookmarkInterval: Duration = .seconds(30)
        /// Largest request body accepted (the API server's limit is 3 MiB).
        public var maximumRequestBytes = 3 << 20
        /// Events kept for watches resuming from an older version.
        public var eventWindow = 10_000
        /// How long events are kept, per resource, for watches and lists at older versions.
        public var eventWindowDuration: Duration = .seconds(300)
        /// Names the serving certificate is valid for.
        public var dnsNames = ["localhost"]
        public var ipAddresses = ["127.0.0.1", "::1"]
        /// Bearer token clients must present; random when not given.
        public var token: String?
        /// Watch length when the client gives no `timeoutSeconds`.
        public var defaultWatchTimeout: Duration = .seconds(1800)
        /// Whether Knative's and Liqo's CRDs (`schemas/`) are installed from the start, as on the
        /// clusters the agent runs on.
        public var installsBundledDefinitions = true
        /// How long a lost Liqo peer's virtual nodes keep reporting Ready after its pods became
        /// unreachable (``KubeSim/setPeer(cluster:reachable:clusterLabel:)``): about 40 s on a
        /// real cluster (Liqo's and the node monitor's grace); at once by default, so tests need
        /// not wait. `sim --peer-grace` sets it.
        public var peerNodeGracePeriod: Duration = .zero

        public init() {}
    }

    public let options: Options
    public let store: ObjectStore
    /// The resource types served, CRDs included.
    let customResources = CustomResourceRegistry()
    public let certificateAuthority: CertificateAuthority
    let serving: IssuedCertificate
    private let tokenState: Mutex<String>
    private let pendingWatchFailures = Mutex<[Status]>([])
    /// Tokens minted for service accounts, and whose they are.
    private let serviceAccountTokens = Mutex<[String: UserInfo]>([:])
    private let serviceEndpoints = Mutex<[String: String]>([:])
    let logger: Logger

    public init(options: Options = Options(), logger: Logger = Logger(label: "kubesim")) throws {
        self.options = options
        self.logger = logger
        store = ObjectStore(eventWindow: options.eventWindow, eventWindowDuration: options.eventWindowDuration)
        certificateAuthority = try CertificateAuthority(commonName: "kubesim-ca")
        serving = try certificateAuthority.issue(commonName: "kubesim", dnsNames: options.dnsNames, ipAddresses: options.ipAddresses)
        tokenState = Mutex(options.token ?? Self.randomToken())
        if options.installsBundledDefinitions {
            for definition in Self.bundledDefinitions { try installDefinition(definition) }
        }
    }

    /// The bearer token requests must carry.
    public var token: String { tokenState.withLock { $0 } }

    /// Who a bearer token belongs to: the admin token is `system:masters`; a token minted for a
    /// service account is that account (while the account exists); anything else is nobody.
    func authenticate(_ bearer: String) -> UserInfo? {
        if bearer == token { return .admin }
        guard let user = serviceAccountTokens.withLock({ $0[bearer] }) else { return nil }
        let parts = user.username.split(separator: ":")
        guard parts.count == 4, (try? store.get(.serviceAccounts, namespace: String(parts[2]), name: String(parts[3]))) != nil else { return nil }
        return user
    }

    /// Mints a token for a service account (as the TokenRequest API does), creating the account
    /// if it does not exist; requests with it are authorized by RBAC.
    public func mintToken(namespace: String, serviceAccount: String) throws -> String {
        if (try? store.get(.serviceAccounts, namespace: namespace, name: serviceAccount)) == nil {
            _ = try store.create(
                ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": .string(serviceAccount)]], .serviceAccounts, namespace: namespace)
        }
        return issueToken(for: .serviceAccount(namespace: namespace, name: serviceAccount))
    }

    func issueToken(for user: UserInfo) -> String {
        let token = "kubesim-sa-" + Self.randomToken()
        serviceAccountTokens.withLock { $0[token] = user }
        return token
    }

    var authorizer: Authorizer { Authorizer(store: store) }

    /// Replaces the accepted token, as a rotated service-account token would.
    public func rotateToken(to token: String) {
        tokenState.withLock { $0 = token }
    }

    /// Makes the next watch request fail with this status before streaming (for example a
    /// `410 Gone` as an HTTP status rather than as an ERROR event).
    public func failNextWatch(with status: Status) {
        pendingWatchFailures.withLock { $0.append(status) }
    }

    /// Makes a Service reachable for webhook calls: `namespace/name` answers at `host:port`
    /// (the simulator has no cluster DNS).
    public func registerEndpoint(namespace: String, name: String, address: String) {
        serviceEndpoints.withLock { $0["\(namespace)/\(name)"] = address }
    }

    var admission: AdmissionChain {
        AdmissionChain(store: store, endpoint: { key in self.serviceEndpoints.withLock { $0[key] } }, logger: logger)
    }

    func takeWatchFailure() -> Status? {
        pendingWatchFailures.withLock { $0.isEmpty ? nil : $0.removeFirst() }
    }

    static func randomToken() -> String {
        String((0..<32).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
    }

    /// The HTTPS server as a Service; `onRunning` receives the bound port.
    public func server(
        host: String = "127.0.0.1", port: Int = 0, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some Service {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(serving.certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serving.privateKeyPEM.utf8), format: .pem))
        )
        tls.minimumTLSVersion = .tlsv12
        tls.shutdownTimeout = .seconds(1)
        let watches = WatchTracker()
        let application = Application(
            responder: KubeSimResponder(sim: self, watches: watches),
            server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "kubesim"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
        return KubeSimServer(application: application, watches: watches)
    }

    /// A kubeconfig that kubectl and `direktiv-dispatch --kubeconfig` can use as is.
    public func kubeconfig(server: String, namespace: String? = nil) -> String {
        let ca = Data(certificateAuthority.certificatePEM.utf8).base64EncodedString()
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - name: kubesim
              cluster:
                server: \(server)
                certificate-authority-data: \(ca)
            users:
            - name: kubesim-admin
              user:
                token: \(token)
            contexts:
            - name: kubesim
              context:
                cluster: kubesim
                user: kubesim-admin\(namespace.map { "\n    namespace: \($0)" } ?? "")
            current-context: kubesim
            preferences: {}

            """
    }
}

/// Runs the application; on shutdown it first ends the open watches, which would otherwise keep
/// the graceful shutdown waiting for their responses to finish.
struct KubeSimServer<App: Service>: Service {
    let application: App
    let watches: WatchTracker

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await application.run()
        } onGracefulShutdown: {
            watches.shutDown()
        }
    }
}

/// The watches one server is streaming, and whether it still accepts new ones.
///
/// Registration and shutdown take the same lock, so a watch opened while the server shuts down
/// is either refused or ended: none can hold the shutdown open.
final class WatchTracker: Sendable {
    private struct State {
        var shuttingDown = false
        var open: [UUID: WatchRegistration] = [:]
    }

    private let state = Mutex(State())

    /// Runs `start` and keeps its registration, unless the server is shutting down.
    func register(_ start: () throws(Status) -> WatchRegistration) throws(Status) -> WatchRegistration {
        try state.withLock { state throws(Status) in
            guard !state.shuttingDown else { throw Status.failure(503, .serviceUnavailable, "the server is shutting down") }
            let registration = try start()
            state.open[registration.id] = registration
            return registration
        }
    }

    func finished(_ registration: WatchRegistration) {
        _ = state.withLock { $0.open.removeValue(forKey: registration.id) }
    }

    /// Refuses new watches and ends the open ones.
    func shutDown() {
        let open = state.withLock { state in
            state.shuttingDown = true
            defer { state.open.removeAll() }
            return Array(state.open.values)
        }
        for registration in open { registration.end() }
    }
}
