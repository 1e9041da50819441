import Foundation

/// Where the Kubernetes API server is and how to talk to it.
public struct KubeConfiguration: Sendable {
    /// The API server's base URL, such as `https://10.96.0.1:443`, without a trailing slash.
    public var server: String
    public var tls: TLSSettings
    public var credentials: Credentials
    /// The namespace of the current context (or the service account's), when known.
    public var namespace: String?
    /// Longest silence tolerated while reading a response or a watch.
    public var readTimeout: Duration
    public var connectTimeout: Duration

    public init(
        server: String,
        tls: TLSSettings = TLSSettings(),
        credentials: Credentials = .none,
        namespace: String? = nil,
        readTimeout: Duration = .seconds(90),
        connectTimeout: Duration = .seconds(5)
    ) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.tls = tls
        self.credentials = credentials
        self.namespace = namespace
        self.readTimeout = readTimeout
        self.connectTimeout = connectTimeout
    }

    /// How the server's certificate is checked and which client certificate is shown.
    public struct TLSSettings: Sendable {
        /// PEM certificates trusted for the server; `nil` means the system's trust roots.
        public var certificateAuthorityPEM: [UInt8]?
        /// Only when a kubeconfig says `insecure-skip-tls-verify: true`.
        public var insecureSkipVerify: Bool
        public var clientCertificatePEM: [UInt8]?
        public var clientKeyPEM: [UInt8]?
        /// Name to verify the server certificate against, instead of the URL's host.
        public var serverName: String?

        public init(
            certificateAuthorityPEM: [UInt8]? = nil,
            insecureSkipVerify: Bool = false,
            clientCertificatePEM: [UInt8]? = nil,
            clientKeyPEM: [UInt8]? = nil,
            serverName: String? = nil
        ) {
            self.certificateAuthorityPEM = certificateAuthorityPEM
            self.insecureSkipVerify = insecureSkipVerify
            self.clientCertificatePEM = clientCertificatePEM
            self.clientKeyPEM = clientKeyPEM
            self.serverName = serverName
        }
    }

    /// How requests authenticate.
    public enum Credentials: Sendable {
        case none
        /// A fixed bearer token.
        case token(String)
        /// A bearer token read from a file and read again when it changes (service-account tokens rotate).
        case tokenFile(String)
    }
}

/// Why a configuration could not be loaded.
public struct KubeConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

extension KubeConfiguration {
    /// Resolves the configuration as kubectl does: an explicit kubeconfig path, else the first
    /// file in `KUBECONFIG`, else the in-cluster service account.
    public static func resolve(
        kubeconfig path: String?,
        context: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> KubeConfiguration {
        if let path, !path.isEmpty {
            return try fromKubeconfig(path: path, context: context)
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            let files = list.split(separator: ":").map(String.init).filter { FileManager.default.fileExists(atPath: $0) }
            guard let first = files.first else { throw KubeConfigurationError("none of the files in KUBECONFIG exists: \(list)") }
            return try fromKubeconfig(path: first, context: context)
        }
        return try inCluster(environment: environment)
    }

    /// The directory holding a pod's service-account token, CA and namespace.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The in-cluster configuration: `KUBERNETES_SERVICE_HOST`/`PORT` and the service account's
    /// token (read again as it rotates), CA and namespace.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = KubeConfiguration.serviceAccountDirectory
    ) throws -> KubeConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw KubeConfigurationError(
                "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig given: use --kubeconfig or KUBECONFIG")
        }
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let caPath = serviceAccountDirectory + "/ca.crt"
        guard let ca = FileManager.default.contents(atPath: caPath) else {
            throw KubeConfigurationError("cannot read the service-account CA at \(caPath)")
        }
        let namespace = FileManager.default.contents(atPath: serviceAccountDirectory + "/namespace")
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        return KubeConfiguration(
            server: "https://\(bracketed):\(port)",
            tls: TLSSettings(certificateAuthorityPEM: Array(ca)),
            credentials: .tokenFile(serviceAccountDirectory + "/token"),
            namespace: namespace
        )
    }
}
