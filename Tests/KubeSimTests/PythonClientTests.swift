import Foundation
import KubeModels
import KubeSim
import TestSupport
import Testing

/// KubeSim driven by the official Kubernetes Python client (PyPI `kubernetes`), a client nobody
/// here wrote: its generated models refuse answers that lack what the API server always sends.
@Suite(.serialized, .enabled(if: PythonClient.isAvailable, "python3 with the kubernetes package is missing: the Python client tests are skipped"))
struct PythonClientTests {
    /// CRDs, validation, defaulting, pruning, the status subresource and deletion, as
    /// `Python/custom_resources.py` checks them.
    @Test func customResourcesThroughThePythonClient() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("python-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let harness = try await SimHarness.start()
        try await withTeardown {
            let kubeconfig = directory.appendingPathComponent("kubeconfig")
            try harness.sim.kubeconfig(server: harness.url).write(to: kubeconfig, atomically: true, encoding: .utf8)
            let definition = directory.appendingPathComponent("definition.json")
            try CustomResourceTests.definition().encoded().write(to: definition)
            let result = try await PythonClient.run("custom_resources.py", [kubeconfig.path, definition.path])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("ok"))
        } teardown: {
            await harness.stop()
        }
    }
}

extension PythonClientTests {
    /// Built-in kinds as `Python/workloads.py` checks them: Direktiv 0.10's Deployment, Service
    /// and HPA running through ReplicaSets and EndpointSlices, defaults, validation, Leases and
    /// events.k8s.io Events, and every pod and node readable by the client's models.
    @Test func builtInKindsThroughThePythonClient() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("python-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let harness = try await SimHarness.start(controlPlane: true)
        try await withTeardown {
            let kubeconfig = directory.appendingPathComponent("kubeconfig")
            try harness.sim.kubeconfig(server: harness.url).write(to: kubeconfig, atomically: true, encoding: .utf8)
            // The script deletes a pod whose kubelet cannot answer (graceful deletion never confirmed).
            try harness.sim.setPeer(cluster: "external2", reachable: false)
            let result = try await PythonClient.run("workloads.py", [kubeconfig.path])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("ok"))
        } teardown: {
            await harness.stop()
        }
    }
}

enum PythonClient {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Python")

    static let isAvailable: Bool = {
        guard let python = try? find("python3") else { return false }
        let process = Process()
        process.executableURL = python
        process.arguments = ["-c", "import kubernetes"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    static func find(_ name: String) throws -> URL {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate) }
        }
        throw HarnessError("\(name) is not on PATH")
    }

    static func run(_ script: String, _ arguments: [String]) async throws -> ProcessResult {
        try await runProcess(try find("python3"), [scripts.appendingPathComponent(script).path] + arguments)
    }
}
