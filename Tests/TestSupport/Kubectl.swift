import Foundation

/// The result of running a program to completion.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program to completion on a thread of its own: waiting on the concurrency pool would
/// starve servers the test runs in the same process.
public func runProcess(_ executable: URL, _ arguments: [String], directory: URL? = nil) async throws -> ProcessResult {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(
                with: Swift.Result {
                    let process = Process()
                    process.executableURL = executable
                    process.arguments = arguments
                    if let directory { process.currentDirectoryURL = directory }
                    let out = Pipe()
                    let err = Pipe()
                    process.standardOutput = out
                    process.standardError = err
                    try process.run()
                    // Both pipes are read before waiting, so a chatty program cannot block on a full pipe.
                    let stdout = out.fileHandleForReading.readDataToEndOfFile()
                    let stderr = err.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    return ProcessResult(
                        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                        stderr: String(decoding: stderr, as: UTF8.self))
                })
        }
    }
}

/// The `kubectl` on PATH.
public enum Kubectl {
    public static let path: String? = {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/kubectl"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    public static func run(_ arguments: [String]) async throws -> ProcessResult {
        try await runProcess(URL(fileURLWithPath: path!), arguments)
    }
}
