import Foundation

/// Prometheus' `promtool` (Debian package `prometheus`), when installed.
public enum Promtool {
    public static let path: String? = {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/promtool"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// `promtool check metrics` on an exposition (it reads standard input).
    public static func check(_ exposition: [UInt8]) async throws -> (status: Int32, output: String) {
        guard let path else { throw HarnessError("promtool is not installed") }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("scrape-\(UUID().uuidString).prom")
        try Data(exposition).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "exec \"$0\" check metrics < \"$1\"", path, file.path])
        return (result.status, result.stdout + result.stderr)
    }
}

extension Promtool {
    /// `promtool test rules`: `rules` (a rules file) evaluated against the series of `tests`
    /// (a unit-test file that names the rules file `rules.yaml`).
    public static func testRules(rules: String, tests: String) async throws -> (status: Int32, output: String) {
        guard let path else { throw HarnessError("promtool is not installed") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("promtool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try rules.write(to: directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
        try tests.write(to: directory.appendingPathComponent("tests.yaml"), atomically: true, encoding: .utf8)
        let result = try await runProcess(
            URL(fileURLWithPath: "/bin/sh"), ["-c", "cd \"$1\" && exec \"$0\" test rules tests.yaml", path, directory.path])
        return (result.status, result.stdout + result.stderr)
    }
}
