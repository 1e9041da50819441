import Foundation
import TestSupport
import Testing

/// Runs the built `direktiv-dispatch` binary the way a user would.
struct CLI {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary next to the test bundle (both are build products of the same configuration).
    static var binary: URL {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("direktiv-dispatch")
    }

    static func run(_ arguments: [String]) async throws -> ProcessResult {
        try await runProcess(binary, arguments, directory: repositoryRoot)
    }
}
