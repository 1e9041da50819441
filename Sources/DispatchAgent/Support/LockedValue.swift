import Synchronization

/// A value behind a lock, for state a service reads and writes from more than one task.
final class LockedValue<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    init(_ value: Value) {
        storage = Mutex(value)
    }

    func get() -> Value { storage.withLock { $0 } }
    func set(_ value: Value) { storage.withLock { $0 = value } }

    /// Replaces the value and returns the one before.
    @discardableResult
    func exchange(_ value: Value) -> Value {
        storage.withLock { current in
            defer { current = value }
            return current
        }
    }
}
