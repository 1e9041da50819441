import DispatchCertificates
import Foundation
import KubeClient
import KubeModels
import KubeSim
import TestSupport
import Testing

@Suite struct KubeClientSecurityTests {
    @Test func refusesAServerSignedByAnotherCA() async throws {
        try await withSim { harness, _ in
            var configuration = harness.configuration()
            configuration.tls.certificateAuthorityPEM = Array(try CertificateAuthority(commonName: "impostor").certificatePEM.utf8)
            let client = try KubeClient(configuration: configuration)
            defer { Task { try await client.shutdown() } }
            do {
                _ = try await client.list(Node.self, .nodes)
                Issue.record("a server signed by another CA must be refused")
            } catch let error as KubeClientError {
                #expect("\(error)".lowercased().contains("certificate"), "\(error)")
            }
        }
    }

    @Test func refusesWithoutAnyCAByDefault() async throws {
        try await withSim { harness, _ in
            var configuration = harness.configuration()
            configuration.tls.certificateAuthorityPEM = nil
            let client = try KubeClient(configuration: configuration)
            defer { Task { try await client.shutdown() } }
            await #expect(throws: KubeClientError.self) { _ = try await client.list(Node.self, .nodes) }
        }
    }

    @Test func insecureSkipVerifyOnlyWhenAsked() async throws {
        try await withSim { harness, _ in
            var configuration = harness.configuration()
            configuration.tls.certificateAuthorityPEM = nil
            configuration.tls.insecureSkipVerify = true
            let client = try KubeClient(configuration: configuration)
            #expect(try await client.list(Node.self, .nodes).items.count == 4)
            try await client.shutdown()
        }
    }

    @Test func wrongTokenIsUnauthorized() async throws {
        try await withSim { harness, _ in
            var configuration = harness.configuration()
            configuration.credentials = .token("wrong")
            let client = try KubeClient(configuration: configuration)
            defer { Task { try await client.shutdown() } }
            do {
                _ = try await client.list(Node.self, .nodes)
                Issue.record("a wrong token must be refused")
            } catch let error as KubeAPIError {
                #expect(error.code == 401)
                #expect(error.reason == "Unauthorized")
            }
        }
    }

    @Test func rotatedTokenFileIsReadAgain() async throws {
        try await withSim { harness, _ in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let tokenFile = directory.appendingPathComponent("token")
            try harness.sim.token.write(to: tokenFile, atomically: true, encoding: .utf8)
            var configuration = harness.configuration()
            configuration.credentials = .tokenFile(tokenFile.path)
            let client = try KubeClient(configuration: configuration)
            #expect(try await client.list(Node.self, .nodes).items.count == 4)

            // The kubelet rotates the projected token: the server accepts only the new one.
            harness.sim.rotateToken(to: "rotated-token")
            try "rotated-token\n".write(to: tokenFile, atomically: true, encoding: .utf8)
            #expect(try await client.list(Node.self, .nodes).items.count == 4, "the 401 made the client read the file again")
            try await client.shutdown()
        }
    }
}
