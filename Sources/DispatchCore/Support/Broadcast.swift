import Synchronization

/// A value that changes, and everyone who follows it: each follower receives the current
/// value, then every change, until the broadcast finishes.
///
/// Values are handed to the followers under the broadcast's lock, so every follower sees the
/// changes in the order they were published. An owner that publishes while holding its own lock
/// (to keep its state and its broadcast in step) may do so: the broadcast never calls back into
/// its owner, and a follower that stops is removed from a new task, never from the one whose
/// cancellation stopped it (that task may be holding the owner's lock).
public final class Broadcast<Value: Sendable>: Sendable {
    /// What a follower that reads more slowly than values are published receives.
    public enum Buffering: Sendable {
        /// Only the newest value: for state, where the latest is all that matters.
        case newest
        /// Every value: for changes a follower must see one by one.
        case every
    }

    private struct State {
        var value: Value
        var followers: [Int: AsyncStream<Value>.Continuation] = [:]
        var nextFollower = 0
        var finished = false
    }

    private let state: Mutex<State>

    public init(_ value: Value) {
        state = Mutex(State(value: value))
    }

    /// The current value.
    public var value: Value { state.withLock { $0.value } }

    /// The current value, then every value published from now on; the stream ends when the
    /// broadcast finishes (at once, after the current value, if it has).
    public func follow(buffering: Buffering = .newest) -> AsyncStream<Value> {
        let policy: AsyncStream<Value>.Continuation.BufferingPolicy = buffering == .newest ? .bufferingNewest(1) : .unbounded
        let (stream, continuation) = AsyncStream.makeStream(of: Value.self, bufferingPolicy: policy)
        let id: Int? = state.withLock { state in
            continuation.yield(state.value)
            guard !state.finished else { return nil }
            state.nextFollower += 1
            state.followers[state.nextFollower] = continuation
            return state.nextFollower
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            Task { _ = self?.state.withLock { $0.followers.removeValue(forKey: id) } }
        }
        return stream
    }

    /// Makes `value` the current value and hands it to every follower.
    public func publish(_ value: Value) {
        state.withLock { state in
            state.value = value
            for continuation in state.followers.values { continuation.yield(value) }
        }
    }

    /// Ends every follower's stream; values published later still become the current value.
    public func finish() {
        let followers = state.withLock { state in
            state.finished = true
            defer { state.followers.removeAll() }
            return Array(state.followers.values)
        }
        for continuation in followers { continuation.finish() }
    }
}

extension Broadcast where Value: Equatable {
    /// Publishes `value` unless it equals the current one; returns whether it did.
    @discardableResult
    public func publishIfChanged(_ value: Value) -> Bool {
        state.withLock { state in
            guard state.value != value else { return false }
            state.value = value
            for continuation in state.followers.values { continuation.yield(value) }
            return true
        }
    }
}
