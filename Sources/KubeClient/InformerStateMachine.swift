import KubeModels

/// A change an ``Informer`` publishes.
public enum InformerEvent<Stored: Sendable>: Sendable {
    /// The cache when a subscriber joins, and whether it has been synced with the server yet.
    case initial([String: Stored], synced: Bool)
    case added(key: String, Stored)
    case modified(key: String, old: Stored, new: Stored)
    case deleted(key: String, Stored)
    /// A full list was applied: the cache now equals the server's state.
    case synced
    /// A watch was established again after the connection had been lost; missed events follow.
    case reconnected
    /// The API server could not be reached; the cache is kept but may be out of date.
    case connectionLost(String)
}

/// The list-and-watch cycle of an informer, without I/O: what to publish, and what to do next.
struct InformerStateMachine<Stored: Sendable> {
    /// An object as the informer keeps it.
    struct Item {
        var key: String
        var resourceVersion: String?
        var value: Stored
    }

    enum Next: Equatable {
        case list
        case watch(from: String)
        case waitThenList(Duration)
        case waitThenWatch(Duration, from: String)
    }

    private(set) var cache: [String: Item] = [:]
    private(set) var resourceVersion: String?
    private(set) var hasSynced = false
    private(set) var isConnected = true
    private var failures = 0
    let backoff: Backoff

    init(backoff: Backoff) {
        self.backoff = backoff
    }

    /// A full list arrived: replace the cache, and publish what changed since the last state.
    mutating func listed(_ items: [Item], resourceVersion: String) -> (events: [InformerEvent<Stored>], next: Next) {
        var events: [InformerEvent<Stored>] = []
        var fresh: [String: Item] = [:]
        fresh.reserveCapacity(items.count)
        for item in items {
            fresh[item.key] = item
            if let old = cache[item.key] {
                if old.resourceVersion != item.resourceVersion || item.resourceVersion == nil {
                    events.append(.modified(key: item.key, old: old.value, new: item.value))
                }
            } else {
                events.append(.added(key: item.key, item.value))
            }
        }
        // Objects deleted while no watch was running: without this they would linger as phantoms.
        for (key, old) in cache where fresh[key] == nil {
            events.append(.deleted(key: key, old.value))
        }
        cache = fresh
        self.resourceVersion = resourceVersion
        hasSynced = true
        isConnected = true
        failures = 0
        events.append(.synced)
        return (events, .watch(from: resourceVersion))
    }

    /// A watch connection was established.
    mutating func watchStarted() -> [InformerEvent<Stored>] {
        guard !isConnected else { return [] }
        isConnected = true
        failures = 0
        return [.reconnected]
    }

    enum Reaction {
        case publish([InformerEvent<Stored>])
        /// The server said the version is too old, or sent an error: end this watch.
        case end(Next, [InformerEvent<Stored>])
    }

    /// One watch event.
    mutating func received(_ event: WatchEvent<Item>) -> Reaction {
        switch event {
        case .added(let item), .modified(let item):
            if let version = item.resourceVersion { resourceVersion = version }
            if let old = cache[item.key] {
                guard old.resourceVersion != item.resourceVersion || item.resourceVersion == nil else { return .publish([]) }
                cache[item.key] = item
                return .publish([.modified(key: item.key, old: old.value, new: item.value)])
            }
            cache[item.key] = item
            return .publish([.added(key: item.key, item.value)])
        case .deleted(let item):
            if let version = item.resourceVersion { resourceVersion = version }
            guard let old = cache.removeValue(forKey: item.key) else { return .publish([]) }
            return .publish([.deleted(key: item.key, old.value)])
        case .bookmark(let version):
            if !version.isEmpty { resourceVersion = version }
            return .publish([])
        case .error(let status):
            if status.code == 410 { return .end(.list, []) }
            let (events, next) = failed("watch error: \(status)")
            return .end(next, events)
        }
    }

    /// The server closed the watch normally (its timeout): watch again from where it ended.
    func watchEnded() -> Next {
        resourceVersion.map { .watch(from: $0) } ?? .list
    }

    /// A list or watch request failed. `gone` means the version is too old to watch from.
    mutating func failed(_ reason: String, gone: Bool = false) -> ([InformerEvent<Stored>], Next) {
        if gone { return ([], .list) }
        let delay = backoff.delay(attempt: failures)
        failures += 1
        var events: [InformerEvent<Stored>] = []
        if isConnected {
            isConnected = false
            events.append(.connectionLost(reason))
        }
        if let resourceVersion {
            return (events, .waitThenWatch(delay, from: resourceVersion))
        }
        return (events, .waitThenList(delay))
    }
}
