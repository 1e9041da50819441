import Synchronization

/// Versions of every `Published` value: a version names one value of one instance, so a reader
/// handed another instance still sees a change.
private let publishedVersions = Atomic<Int>(0)

/// A value that every call reads and that seldom changes, readable without a shared lock.
///
/// Readers keep a copy and the version it came with; checking for a change is one atomic load
/// of a word nobody writes between changes, where a lock taken on every call by every event
/// loop would bounce its cache line between the cores.
public final class Published<Value: Sendable & Equatable>: Sendable {
    private let version: Atomic<Int>
    private let stored: Mutex<(version: Int, value: Value)>

    public init(_ value: Value) {
        let first = publishedVersions.add(1, ordering: .relaxed).newValue
        version = Atomic(first)
        stored = Mutex((first, value))
    }

    /// The current value; setting an equal value changes nothing.
    public var value: Value {
        get { stored.withLock { $0.value } }
        set {
            stored.withLock { stored in
                guard stored.value != newValue else { return }
                stored = (publishedVersions.add(1, ordering: .relaxed).newValue, newValue)
                version.store(stored.version, ordering: .releasing)
            }
        }
    }

    /// The value and its version when the version is not `known` (0 is never a version).
    public func ifChanged(since known: Int) -> (version: Int, value: Value)? {
        guard version.load(ordering: .acquiring) != known else { return nil }
        return stored.withLock { $0 }
    }
}
