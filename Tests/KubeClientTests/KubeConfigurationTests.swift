import DispatchCertificates
import Foundation
import KubeClient
import KubeModels
import KubeSim
import TestSupport
import Testing

@Suite struct KubeConfigurationTests {
    func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func simulatorKubeconfigWorksAsIs() async throws {
        try await withSim { harness, _ in
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("config").path
            try harness.sim.kubeconfig(server: harness.url, namespace: "direktiv").write(toFile: path, atomically: true, encoding: .utf8)
            let configuration = try KubeConfiguration.resolve(kubeconfig: path, environment: [:])
            #expect(configuration.server == harness.url)
            #expect(configuration.namespace == "direktiv")
            let client = try KubeClient(configuration: configuration)
            #expect(try await client.list(Node.self, .nodes).items.count == 4)
            try await client.shutdown()

            let fromEnvironment = try KubeConfiguration.resolve(kubeconfig: nil, environment: ["KUBECONFIG": "/nonexistent:\(path)"])
            #expect(fromEnvironment.server == harness.url)
        }
    }

    @Test func contextsFilesAndInsecureFlag() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try "CA PEM".write(to: directory.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
        try "from-file".write(to: directory.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        let yaml = """
            apiVersion: v1
            kind: Config
            current-context: one
            clusters:
            - name: a
              cluster: {server: "https://a.example:6443/", certificate-authority: ca.crt}
            - name: b
              cluster: {server: "https://b.example", insecure-skip-tls-verify: true}
            users:
            - name: u1
              user: {tokenFile: token}
            - name: u2
              user: {token: inline}
            contexts:
            - name: one
              context: {cluster: a, user: u1, namespace: ns1}
            - name: two
              context: {cluster: b, user: u2}
            """
        let path = directory.appendingPathComponent("config").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let one = try KubeConfiguration.fromKubeconfig(path: path)
        #expect(one.server == "https://a.example:6443")
        #expect(one.tls.certificateAuthorityPEM == Array("CA PEM".utf8))
        #expect(one.tls.insecureSkipVerify == false)
        if case .tokenFile(let file) = one.credentials {
            #expect(file == directory.appendingPathComponent("token").path)
        } else {
            Issue.record("expected a token file")
        }
        let two = try KubeConfiguration.fromKubeconfig(path: path, context: "two")
        #expect(two.tls.insecureSkipVerify)
        if case .token(let token) = two.credentials { #expect(token == "inline") } else { Issue.record("expected a token") }
        #expect(throws: KubeConfigurationError.self) { try KubeConfiguration.fromKubeconfig(path: path, context: "three") }
        #expect(throws: KubeConfigurationError.self) { try KubeConfiguration.fromKubeconfig(path: directory.appendingPathComponent("missing").path) }
    }

    @Test func inClusterBracketsIPv6AndReadsTheServiceAccount() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try "CA".write(to: directory.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
        try "direktiv-dispatch\n".write(to: directory.appendingPathComponent("namespace"), atomically: true, encoding: .utf8)
        let v6 = try KubeConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"], serviceAccountDirectory: directory.path)
        #expect(v6.server == "https://[fd00::1]:443")
        #expect(v6.namespace == "direktiv-dispatch")
        if case .tokenFile(let file) = v6.credentials { #expect(file == directory.path + "/token") } else { Issue.record("expected the token file") }
        let v4 = try KubeConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"], serviceAccountDirectory: directory.path)
        #expect(v4.server == "https://10.96.0.1:443")
        #expect(throws: KubeConfigurationError.self) { try KubeConfiguration.inCluster(environment: [:], serviceAccountDirectory: directory.path) }
        #expect(throws: KubeConfigurationError.self) { try KubeConfiguration.resolve(kubeconfig: nil, environment: [:]) }
    }
}
