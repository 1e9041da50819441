import Foundation

/// Whether the proxy's event loops are pinned to CPUs, one loop per CPU.
///
/// Left to the kernel, two busy loops often end up queued on the same CPU while the other CPU
/// serves the caller and the function: one loop then waits a whole scheduler slice (1-4 ms)
/// behind the other, and every call on its connections waits with it. On 2 cores that was most
/// of the proxy's p99 at 16 connections (BENCHMARKS.md). Pinned, each loop has a CPU of its own
/// and waits only for the short bursts of the processes it talks to.
public enum ProxyCPUAffinity: String, Sendable, CaseIterable {
    /// Pins loop *i* to the *i*-th CPU the process may use, when it may use exactly as many CPUs
    /// as it runs loops: a dedicated cpuset (Kubernetes' static CPU manager) or a whole small
    /// machine. A process limited by a CPU quota may run on any of the node's CPUs, so its loops
    /// stay unpinned and the kernel keeps moving them away from busy CPUs.
    case auto
    /// Never pins: the kernel places the loops.
    case off

    /// The CPU each loop is pinned to, in loop order; `nil` leaves placement to the kernel.
    ///
    /// - Parameters:
    ///   - loops: How many event loops the proxy runs.
    ///   - allowedCPUs: The CPUs the process may run on, `nil` where that is unknown.
    public func pinnedCPUs(loops: Int, allowedCPUs: [Int]?) -> [Int]? {
        guard self == .auto, loops > 1, let allowedCPUs else { return nil }
        let distinct = Set(allowedCPUs).sorted()
        guard distinct.count == loops else { return nil }
        return distinct
    }

    /// The CPUs the calling thread may run on (its affinity mask, as `/proc` shows it), `nil`
    /// where the platform does not say.
    public static func allowedCPUs() -> [Int]? {
        #if os(Linux)
        guard let status = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            return cpus(inList: line.dropFirst("Cpus_allowed_list:".count))
        }
        return nil
        #else
        return nil
        #endif
    }

    /// The CPUs of a kernel CPU list such as `0-3,8,10-11`; `nil` if it is not one.
    static func cpus(inList list: Substring) -> [Int]? {
        var cpus: [Int] = []
        for part in list.split(separator: ",") {
            let bounds = part.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let first = Int(bounds[0]), let last = Int(bounds[bounds.count - 1]), 0 <= first, first <= last
            else {
                return nil
            }
            cpus.append(contentsOf: first...last)
        }
        return cpus.isEmpty ? nil : cpus
    }
}
