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
        self.process = process
        self.lines = lines
        try process.run()
        // A thread of its own reads the pipe with poll and read, instead of Foundation's
        // readabilityHandler: that handler was seen to miss the end of a child's output (a
        // test awaiting the last line hung the whole run), and `availableData` traps when a
        // read is interrupted (EINTR). The lines also end once the child has exited and the
        // pipe has nothing more, even if another child inherited its write end.
        let reader = err.fileHandleForReading
        Thread.detachNewThread {
            Self.readLines(from: reader.fileDescriptor, while: { process.isRunning }, into: continuation)
            try? reader.close()
        }
    }

    /// Yields each complete line read from `descriptor` until end of file, or until `isRunning`
    /// is false and nothing has arrived for 100 ms; then the last partial line, and finishes.
    static func readLines(from descriptor: Int32, while isRunning: () -> Bool, into continuation: AsyncStream<String>.Continuation) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        reading: while true {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 {
                if isRunning() { continue }
                break
            }
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            switch count {
            case ..<0 where errno == EINTR || errno == EAGAIN:
                continue
            case ...0:
                break reading
            default:
                pending += buffer[..<count]
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
        }
        if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
        continuation.finish()
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
