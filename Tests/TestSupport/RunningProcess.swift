import Foundation
import Synchronization

/// A child process whose output arrives line by line, for tests that await lines.
public final class RunningProcess: Sendable {
    public let process: Process
    public let lines: AsyncStream<String>

    public enum Output: Sendable {
        case standardOutput, standardError
    }

    /// Starts `executable` with `arguments` and `environment` added to the current one; `lines`
    /// carries `output`, the other stream is discarded.
    public init(_ executable: URL, arguments: [String], environment: [String: String] = [:], output: Output = .standardError) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let err = Pipe()
        if output == .standardError {
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
        } else {
            process.standardOutput = err
            process.standardError = FileHandle.nullDevice
        }
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        let pending = Mutex("")
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                continuation.finish()
                return
            }
            let complete: [String] = pending.withLock { buffer in
                buffer += String(decoding: data, as: UTF8.self)
                var parts = buffer.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                buffer = parts.removeLast()
                return parts
            }
            for line in complete { continuation.yield(line) }
        }
        self.process = process
        self.lines = lines
        try process.run()
    }

    public func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to end, off the concurrency pool, and returns its exit status. A
    /// process still running after `limit` is killed (its status is then 9, the signal), so a
    /// shutdown that hangs fails its test instead of holding the whole run.
    public func exitStatus(within limit: Duration = .seconds(120)) async -> Int32 {
        let watchdog = Task { [process] in
            try await Task.sleep(for: limit)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        defer { watchdog.cancel() }
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.process.waitUntilExit()
                continuation.resume(returning: self.process.terminationStatus)
            }
        }
    }

    public func stop() {
        if process.isRunning { process.terminate() }
    }
}

/// A loopback port nothing listens on at the moment of asking.
public func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
    guard bound == 0 else { throw HarnessError("cannot bind a port") }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
