import DispatchCore
import Synchronization

/// Recent invocation latencies per cluster and per function, and which placements have been
/// called yet, for the admin API, the demo and cold-start counting.
public final class InvocationStatistics: Sendable {
    private struct State {
        var clusters: [String: LatencyWindow] = [:]
        var functions: [FunctionKey: LatencyWindow] = [:]
        /// The placement each function was last called under.
        var calledPlacements: [FunctionKey: String] = [:]
    }

    private let state = Mutex(State())
    private let capacity: Int

    public init(capacity: Int = 1024) {
        self.capacity = capacity
    }

    /// Records a finished call. Returns whether it was the first call of the function's current
    /// placement, a cold start.
    @discardableResult
    public func record(cluster: String, function: FunctionRecord?, duration: Duration) -> Bool {
        let capacity = capacity
        return state.withLock { state in
            state.clusters[cluster, default: LatencyWindow(capacity: capacity)].record(duration)
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
