import Foundation
import TestSupport
import Testing

@Suite struct CheckRulesCommandTests {
    @Test func validFileSummarises() async throws {
        let result = try await CLI.run(["check-rules", "examples/rules.yaml"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("valid: 3 namespace rule(s)"))
    }

    @Test func invalidFileListsEveryErrorWithPosition() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-rules-\(UUID().uuidString).yaml")
        try "clusterLable: x\nnamespaces:\n  - match: \"Team*\"\n    clusters: []\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await CLI.run(["check-rules", file.path])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 3, "\(result.stderr)")
        #expect(lines.first?.hasPrefix("\(file.path):1:1: clusterLable: unknown key") == true, "\(result.stderr)")
        #expect(result.stderr.contains(":3:12: namespaces[0].match: bad glob"))
        #expect(result.stderr.contains(":4:15: namespaces[0].clusters: must list at least one cluster"))
    }

    @Test func missingFileFails() async throws {
        let result = try await CLI.run(["check-rules", "/nonexistent/rules.yaml"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot read"))
    }
}
