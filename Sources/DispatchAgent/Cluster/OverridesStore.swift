import DispatchCore
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the per-namespace overrides in a ConfigMap, so every replica applies the same ones and
/// a restart loses nothing.
///
/// One data key per Direktiv namespace, the override as JSON. The ConfigMap is watched (a
/// change made through any replica or with kubectl applies within the watch's latency) and
/// written with optimistic concurrency: a write based on a stale read is retried on the fresh
/// object, so concurrent changes of different namespaces all land, and of two concurrent changes
/// of one namespace the second gets a conflict; none is lost.
public final class OverridesStore: Service, Sendable {
    public let namespace: String
    public let name: String
    private let client: KubeClient
    private let state: AgentState
    private let informer: Informer<ConfigMap, ConfigMap>
    private let logger: Logger
    private let status = Mutex<(loaded: Bool, resourceVersion: String?)>((false, nil))
    private let overridesBroadcast: Broadcast<[String: NamespaceOverride]>

    public init(client: KubeClient, namespace: String, name: String, state: AgentState, backoff: Backoff = Backoff(), logger: Logger) {
        self.client = client
        self.namespace = namespace
        self.name = name
        self.state = state
        self.logger = logger
        overridesBroadcast = Broadcast(state.overrides)
        informer = Informer(
            client: client, resource: .configMaps, namespace: namespace, options: ListOptions(fieldSelector: "metadata.name=\(name)"),
            backoff: backoff, logger: logger)
    }

    /// Whether the ConfigMap has been read once (an absent ConfigMap counts: no overrides).
    public var isLoaded: Bool { status.withLock { $0.loaded } }

    /// The ConfigMap's resource version the overrides in force come from.
    public var resourceVersion: String? { status.withLock { $0.resourceVersion } }

    /// The overrides in force now and after every change.
    public func changes() -> AsyncStream<[String: NamespaceOverride]> {
        overridesBroadcast.follow(buffering: .newest)
    }

    public func run() async throws {
        let events = informer.subscribe()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.informer.run() }
            group.addTask {
                for await event in events { self.apply(event) }
            }
        }
        overridesBroadcast.finish()
    }

    private func apply(_ event: InformerEvent<ConfigMap>) {
        switch event {
        case .initial(let objects, let synced):
            if synced || !objects.isEmpty { adopt(objects.values.first, loaded: synced) }
        case .added(_, let object), .modified(_, _, let object):
            adopt(object, loaded: true)
        case .deleted:
            adopt(nil, loaded: true)
        case .synced:
            if !isLoaded { adopt(informer.snapshot().values.first, loaded: true) }
        case .reconnected, .connectionLost:
            break
        }
    }

    /// Makes `object`'s overrides the ones in force.
    private func adopt(_ object: ConfigMap?, loaded: Bool) {
        let (overrides, problems) = NamespaceOverride.table(configMapData: object?.data ?? [:])
        for problem in problems {
            logger.error("ignoring an invalid override in ConfigMap \(namespace)/\(name)", metadata: ["problem": "\(problem)"])
        }
        status.withLock { status in
            // A watch event older than what a write of ours already applied must not undo it.
            if let current = status.resourceVersion, let incoming = object?.metadata.resourceVersion, let a = Int(current), let b = Int(incoming),
                b < a
            {
                return
            }
            status.loaded = status.loaded || loaded
            status.resourceVersion = object?.metadata.resourceVersion
            state.overrides = overrides
            // Under the lock, so that followers receive the overrides in the order they took effect.
            overridesBroadcast.publish(overrides)
        }
    }

    /// Why a change could not be stored.
    public enum WriteError: Error, CustomStringConvertible {
        /// Other writers kept changing the ConfigMap.
        case conflict(String)
        /// The API server refused or could not be reached.
        case api(String)

        public var description: String {
            switch self {
            case .conflict(let message): "the overrides changed concurrently; try again (\(message))"
            case .api(let message): message
            }
        }
    }

    /// Sets (or, with `nil`, removes) the override of `direktivNamespace`. Returns whether there
    /// was one before.
    @discardableResult
    public func set(_ override: NamespaceOverride?, for direktivNamespace: String) async throws(WriteError) -> Bool {
        try await set(override, for: direktivNamespace, mayCreate: true)
    }

    /// How often a write is tried again after other keys of the ConfigMap changed under it.
    ///
    /// Every lost attempt means another write landed, so concurrent writers all finish; the bound
    /// only stops a write that keeps losing to a stream of new ones.
    static let attemptsAgainstOtherKeys = 64

    private func set(_ override: NamespaceOverride?, for direktivNamespace: String, mayCreate: Bool) async throws(WriteError) -> Bool {
        // The ConfigMap holds independent keys: a conflict caused by another namespace's change
        // is retried on the fresh object; only a concurrent change of this key is a conflict.
        var seen: String??
        do {
            let stored = try await client.updateRetryingOnConflict(
                ConfigMap.self, .configMaps, name: name, namespace: namespace, attempts: Self.attemptsAgainstOtherKeys
            ) { configMap in
                let attempt = try Self.attempt(override, for: direktivNamespace, on: configMap.data, seen: seen)
                seen = .some(attempt.replaced)
                configMap.data = attempt.data
            }
            adopt(stored, loaded: true)
            // `seen` holds the value the stored write replaced.
            return (seen ?? nil) != nil
        } catch let error as WriteError {
            throw error
        } catch let error as KubeAPIError where error.isNotFound {
            guard let override else { return false }
            if try await create(with: [direktivNamespace: override.storedValue]) { return false }
            // Another writer created it first: change that one.
            guard mayCreate else { throw .conflict("ConfigMap \(namespace)/\(name) appeared and vanished concurrently") }
            return try await set(override, for: direktivNamespace, mayCreate: false)
        } catch let error as KubeAPIError where error.isConflict {
            throw .conflict("ConfigMap \(namespace)/\(name) kept changing during \(Self.attemptsAgainstOtherKeys) attempts (\(error.message))")
        } catch {
            throw .api("cannot store the override in ConfigMap \(namespace)/\(name): \(error)")
        }
    }

    /// One attempt at writing `direktivNamespace`'s override (`nil` removes it) into the
    /// ConfigMap's `data`; returns the new data and the value it replaces.
    ///
    /// `seen` is what an earlier attempt found under the key (`nil` on the first attempt). If the
    /// key holds something else now, another writer changed this namespace in between: that is
    /// a conflict for the caller to resolve, not a write to repeat over theirs. Changes of other
    /// keys are not.
    static func attempt(
        _ override: NamespaceOverride?, for direktivNamespace: String, on data: [String: String]?, seen: String??
    ) throws(WriteError) -> (data: [String: String], replaced: String?) {
        var data = data ?? [:]
        let current = data[direktivNamespace]
        if let seen, seen != current {
            throw .conflict("the override of \"\(direktivNamespace)\" was changed by another writer at the same time")
        }
        data[direktivNamespace] = override?.storedValue
        return (data, current)
    }

    /// The chart creates the ConfigMap; without it (kubectl installs, the demo) the first write
    /// does. Returns `false` when someone else created it first.
    private func create(with data: [String: String]) async throws(WriteError) -> Bool {
        do {
            let created = try await client.create(
                ConfigMap(metadata: ObjectMeta(name: name, namespace: namespace), data: data), .configMaps, namespace: namespace)
            adopt(created, loaded: true)
            return true
        } catch let error as KubeAPIError where error.isAlreadyExists {
            return false
        } catch {
            throw .api("cannot create ConfigMap \(namespace)/\(name) for the overrides: \(error)")
        }
    }
}
