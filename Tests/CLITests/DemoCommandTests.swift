import Foundation
import TestSupport
import Testing

/// `direktiv-dispatch demo`, the README's first command, run as a newcomer runs it.
@Suite struct DemoCommandTests {
    static let freePorts = ["--api-port", "0", "--webhook-port", "0", "--proxy-port", "0", "--admin-port", "0"]

    @Test func everyStepBehavesAndTheDemoExitsZero() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await CLI.run(["demo", "--duration", "0", "--calls", "3", "--directory", directory.path] + Self.freePorts)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        for step in [
            "== 1/6", "== 2/6", "== 3/6", "== 4/6", "== 5/6", "== 6/6", "== clusters", "all steps behaved as expected", "Try it",
            "kubectl --kubeconfig",
        ] {
            #expect(result.stdout.contains(step), "output lacks \(step)")
        }
        // The override step's function is pinned, and the team function avoided the NotReady peer.
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("report") && $0.contains(" main ") && $0.contains("pinned by override") })
        #expect(lines.contains { $0.hasPrefix("digest") && $0.contains("external1") })
        #expect(lines.contains { $0.hasPrefix("thumbs") && $0.contains("external1") && $0.contains("lowest latency of 2 eligible") })
        // mailer failed over to external1 while external2 was lost and came back with it.
        #expect(lines.contains { $0.hasPrefix("mailer") && $0.contains("external1") && $0.contains("failed over from external2") })
        #expect(lines.contains { $0.hasPrefix("mailer") && $0.contains("external2") && $0.contains("failed back to external2") })
        #expect(lines.contains { $0.hasPrefix("resize") && $0.contains("stranded:") })
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("kubeconfig").path))
    }

    @Test func kubectlAndExplainServerWorkAgainstTheRunningDemo() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let demo = try RunningProcess(
            CLI.binary, arguments: ["demo", "--duration", "60", "--calls", "1", "--directory", directory.path] + Self.freePorts,
            output: .standardOutput)
        defer { demo.stop() }
        // The whole demo runs first (two replicas, five steps): the deadline only guards against a hang.
        let clustersLine = try await next(demo.lines, within: .seconds(90)) { $0.contains("curl -s http") && $0.hasSuffix("/v1/clusters") }
        let adminURL = try #require(clustersLine.split(separator: " ").last.map { String($0.dropLast("/v1/clusters".count)) })

        // The operator pinned team-a to main during the demo: the running agent says so.
        let explained = try await CLI.run(["explain", "--server", adminURL, "--namespace", "team-a", "--size", "small"])
        #expect(explained.status == 0, "\(explained.stderr)")
        #expect(explained.stdout.contains("pinned by override"), "\(explained.stdout)")
        let json = try await CLI.run([
            "explain", "--server", adminURL, "--namespace", "team-b", "--cpu", "500m", "--memory", "1Gi", "--output", "json",
        ])
        #expect(json.stdout.contains("\"requestPerPod\""))
        let refused = try await CLI.run(["explain", "--server", adminURL, "--namespace", "team-b", "--cpu", "lots"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("answered 400"), "\(refused.stderr)")

        // The demo pinned team-a to main and rebalanced: csv and pdf run there now, nothing would move.
        let rebalance = try await CLI.run([
            "rebalance", "--server", adminURL, "--namespace", "team-a", "--dry-run", "--token-file",
            directory.appendingPathComponent("admin-token").path,
        ])
        #expect(rebalance.status == 0, "\(rebalance.stderr)")
        let rows = rebalance.stdout.split(separator: "\n").filter { $0.hasPrefix("team-a-") }.map {
            $0.split(separator: " ", omittingEmptySubsequences: true).prefix(4).joined(separator: " ")
        }
        #expect(rows == ["team-a-csv main main no", "team-a-pdf main main no", "team-a-report main main no"], "\(rebalance.stdout)")
        let withoutToken = try await CLI.run([
            "rebalance", "--server", adminURL, "--namespace", "team-a", "--dry-run", "--token-file", "/nonexistent",
        ])
        #expect(withoutToken.status != 0 && withoutToken.stderr.contains("admin token"), "\(withoutToken.stderr)")

        guard Kubectl.path != nil else { return }
        let kubeconfig = directory.appendingPathComponent("kubeconfig").path
        let services = try await Kubectl.run([
            "--kubeconfig", kubeconfig, "--cache-dir", directory.appendingPathComponent("cache").path, "get", "ksvc", "-n",
            "direktiv-services-direktiv", "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.metadata.annotations.dispatch\\.direktiv\\.io/cluster}{\"\\n\"}{end}",
        ])
        #expect(services.status == 0, "\(services.stderr)")
        #expect(services.stdout.contains("team-a-report=main"))
        #expect(services.stdout.contains("external2-resize=external2"))
        demo.signal(SIGINT)
        #expect(await demo.exitStatus() == 0, "Ctrl-C ends the demo cleanly")
    }

    @Test func aPortInUseFailsWithTheReason() async throws {
        let blocker = try await RunningProcess(CLI.binary, arguments: ["sim", "--port", "0"], output: .standardOutput)
        defer { blocker.stop() }
        let line = try await next(blocker.lines) { $0.contains("KubeSim serving") }
        let port = try #require(line.split(separator: ":").last.map { String($0) })
        let result = try await CLI.run([
            "demo", "--duration", "0", "--api-port", port, "--webhook-port", "0", "--proxy-port", "0", "--admin-port", "0",
        ])
        #expect(result.status != 0)
        #expect(result.stderr.contains("demo failed at step start"), "\(result.stderr)")
        #expect(result.stderr.contains("--api-port"))
    }
}
