import Foundation
import Yams

extension KubeConfiguration {
    /// Reads a kubeconfig file: the current context (or `context`), its cluster and user.
    /// Relative file paths in it are relative to the file's directory.
    public static func fromKubeconfig(path: String, context requested: String? = nil) throws -> KubeConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KubeConfigurationError("cannot read kubeconfig \(path)")
        }
        let file: KubeconfigFile
        do {
            file = try YAMLDecoder().decode(KubeconfigFile.self, from: String(decoding: data, as: UTF8.self))
        } catch {
            throw KubeConfigurationError("kubeconfig \(path) is not valid: \(error)")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try file.configuration(context: requested, directory: directory, path: path)
    }
}

/// The parts of a kubeconfig file the agent understands.
struct KubeconfigFile: Decodable {
    var clusters: [Named<Cluster>]?
    var users: [Named<User>]?
    var contexts: [Named<Context>]?
    var currentContext: String?

    enum CodingKeys: String, CodingKey {
        case clusters, users, contexts
        case currentContext = "current-context"
    }

    struct Named<Value: Decodable>: Decodable {
        var name: String
        var value: Value

        enum CodingKeys: String, CodingKey { case name, cluster, user, context }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            for key in [CodingKeys.cluster, .user, .context] where container.contains(key) {
                value = try container.decode(Value.self, forKey: key)
                return
            }
            throw DecodingError.keyNotFound(
                CodingKeys.cluster, .init(codingPath: decoder.codingPath, debugDescription: "entry \(name) has no cluster, user or context"))
        }
    }

    struct Cluster: Decodable {
        var server: String
        var certificateAuthority: String?
        var certificateAuthorityData: String?
        var insecureSkipTLSVerify: Bool?
        var tlsServerName: String?

        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthority = "certificate-authority"
            case certificateAuthorityData = "certificate-authority-data"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
            case tlsServerName = "tls-server-name"
        }
    }

    struct User: Decodable {
        var token: String?
        var tokenFile: String?
        var clientCertificate: String?
        var clientCertificateData: String?
        var clientKey: String?
        var clientKeyData: String?

        enum CodingKeys: String, CodingKey {
            case token, tokenFile
            case clientCertificate = "client-certificate"
            case clientCertificateData = "client-certificate-data"
            case clientKey = "client-key"
            case clientKeyData = "client-key-data"
        }
    }

    struct Context: Decodable {
        var cluster: String
        var user: String?
        var namespace: String?
    }

    func configuration(context requested: String?, directory: String, path: String) throws -> KubeConfiguration {
        guard let contextName = requested ?? currentContext, !contextName.isEmpty else {
            throw KubeConfigurationError("kubeconfig \(path) has no current-context")
        }
        guard let context = contexts?.first(where: { $0.name == contextName })?.value else {
            throw KubeConfigurationError("kubeconfig \(path) has no context \"\(contextName)\"")
        }
        guard let cluster = clusters?.first(where: { $0.name == context.cluster })?.value else {
            throw KubeConfigurationError("kubeconfig \(path) has no cluster \"\(context.cluster)\"")
        }
        let user = context.user.flatMap { name in users?.first(where: { $0.name == name })?.value }

        func resolve(_ file: String) -> String {
            file.hasPrefix("/") ? file : directory + "/" + file
        }
        func read(data: String?, file: String?, what: String) throws -> [UInt8]? {
            if let data {
                guard let decoded = Data(base64Encoded: data, options: .ignoreUnknownCharacters) else {
                    throw KubeConfigurationError("kubeconfig \(path): \(what) data is not base64")
                }
                return Array(decoded)
            }
            if let file {
                guard let contents = FileManager.default.contents(atPath: resolve(file)) else {
                    throw KubeConfigurationError("kubeconfig \(path): cannot read \(what) file \(resolve(file))")
                }
                return Array(contents)
            }
            return nil
        }

        let tls = KubeConfiguration.TLSSettings(
            certificateAuthorityPEM: try read(
                data: cluster.certificateAuthorityData, file: cluster.certificateAuthority, what: "certificate-authority"),
            insecureSkipVerify: cluster.insecureSkipTLSVerify ?? false,
            clientCertificatePEM: try read(data: user?.clientCertificateData, file: user?.clientCertificate, what: "client-certificate"),
            clientKeyPEM: try read(data: user?.clientKeyData, file: user?.clientKey, what: "client-key"),
            serverName: cluster.tlsServerName
        )
        let credentials: KubeConfiguration.Credentials =
            if let token = user?.token { .token(token) } else if let file = user?.tokenFile { .tokenFile(resolve(file)) } else { .none }
        return KubeConfiguration(server: cluster.server, tls: tls, credentials: credentials, namespace: context.namespace)
    }
}
