import DispatchCore
import Foundation
import Synchronization

/// Recent invocation latencies per cluster and per function, and which placements have been
/// called yet, for the admin API, the demo and cold-start counting.
public final class InvocationStatistics: Sendable {
    private struct State {
        var clusters: [String: LatencyWindow] = [:]
        /// When each cluster last answered a call.
        var lastCall: [String: Date] = [:]
        var functions: [FunctionKey: LatencyWindow] = [:]
        /// The placement each function was last called under.
        var calledPlacements: [FunctionKey: String] = [:]
    }

    private let state = Mutex(State())
    private let capacity: Int
    private let now: @Sendable () -> Date

    public init(capacity: Int = 1024, now: @escaping @Sendable () -> Date = { Date() }) {
        self.capacity = capacity
        self.now = now
    }

    /// The fraction of calls below the floor: the fastest tenth, set by the network rather than
    /// by what the functions do.
    public static let floorPercentile = 0.1

    /// Records a finished call. Returns whether it was the first call of the function's current
    /// placement, a cold start.
    @discardableResult
    public func record(cluster: String, function: FunctionRecord?, duration: Duration) -> Bool {
        let capacity = capacity
        let date = now()
        return state.withLock { state in
            state.clusters[cluster, default: LatencyWindow(capacity: capacity)].record(duration)
            state.lastCall[cluster] = date
            guard let function else { return false }
            state.functions[function.key, default: LatencyWindow(capacity: capacity)].record(duration)
            let placement = function.placementID
            guard state.calledPlacements[function.key] != placement else { return false }
            state.calledPlacements[function.key] = placement
            return true
        }
    }

    public func latency(cluster: String) -> LatencySummary? {
        state.withLock { $0.clusters[cluster]?.summary }
    }

    /// The floor of the calls to `cluster` (their ``floorPercentile``), how many calls it is taken
    /// from and when the last one finished: the agent's own measurement of the round trip.
    public func floor(cluster: String) -> ClusterLatency.Measurement? {
        state.withLock { state in
            guard let window = state.clusters[cluster], let floor = window.percentile(Self.floorPercentile), let last = state.lastCall[cluster]
            else { return nil }
            return ClusterLatency.Measurement(seconds: floor.inSeconds, observedAt: last, samples: min(window.count, window.capacity))
        }
    }

    public func latency(function: FunctionKey) -> LatencySummary? {
        state.withLock { $0.functions[function]?.summary }
    }

    /// Forgets functions that no longer exist, so the maps stay as large as the directory.
    public func retain(functions keys: Set<FunctionKey>) {
        state.withLock { state in
            state.functions = state.functions.filter { keys.contains($0.key) }
            state.calledPlacements = state.calledPlacements.filter { keys.contains($0.key) }
        }
    }
}
