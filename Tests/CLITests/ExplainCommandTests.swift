import Foundation
import TestSupport
import Testing

@Suite struct ExplainCommandTests {
    let base = ["explain", "--rules", "examples/rules.yaml", "--nodes", "examples/seed-nodes.json", "--pods", "examples/seed-pods.json"]

    @Test func placedExitsZeroWithTable() async throws {
        let result = try await CLI.run(base + ["--namespace", "team-a", "--size", "medium"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Decision: placed -> external1"))
        #expect(result.stdout.contains("CLUSTER"))
    }

    @Test func rejectedExitsTwo() async throws {
        let result = try await CLI.run(base + ["--namespace", "external2", "--cpu", "3500m", "--memory", "1Gi"])
        #expect(result.status == 2)
        #expect(result.stdout.contains("Decision: rejected"))
    }

    @Test func unplacedExitsThree() async throws {
        let result = try await CLI.run(base + ["--namespace", "anything", "--cpu", "64", "--memory", "1Gi"])
        #expect(result.status == 3)
    }

    @Test func jsonOutputIsADecision() async throws {
        let result = try await CLI.run(
            base + ["--namespace", "team-b", "--size", "small", "--overrides", "examples/overrides.json", "--output", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(json?["cluster"] as? String == "external2", "team-b is pinned to external2 in examples/overrides.json")
        #expect(json?["outcome"] as? String == "placed")
        #expect((json?["rows"] as? [Any])?.count == 3)
    }

    @Test func badInputIsRefused() async throws {
        #expect(try await CLI.run(base + ["--namespace", "x"]).status != 0)
        #expect(try await CLI.run(base + ["--namespace", "x", "--size", "huge"]).status != 0)
        let badQuantity = try await CLI.run(base + ["--namespace", "x", "--cpu", "lots", "--memory", "1Gi"])
        #expect(badQuantity.status != 0)
        #expect(badQuantity.stderr.contains("not a Kubernetes quantity"))
        let badNodes = try await CLI.run(["explain", "--nodes", "examples/rules.yaml", "--namespace", "x", "--size", "small"])
        #expect(badNodes.status != 0)
        #expect(badNodes.stderr.contains("is not valid"))
        let serverAndFiles = try await CLI.run(base + ["--server", "http://127.0.0.1:9", "--namespace", "x", "--size", "small"])
        #expect(serverAndFiles.stderr.contains("--server asks the agent"))
        let unreachable = try await CLI.run(["explain", "--server", "http://127.0.0.1:9", "--namespace", "x", "--size", "small"])
        #expect(unreachable.status != 0)
        #expect(unreachable.stderr.contains("cannot ask http://127.0.0.1:9"))
    }
}
