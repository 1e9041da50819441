import DispatchCore
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// Knows every Direktiv function workload in the functions namespaces: its Direktiv namespace,
/// the cluster it was placed on and whether it serves.
///
/// Watches Knative Services and Deployments (Direktiv 0.10+) in each functions namespace;
/// Deployments that Knative made for its revisions are not functions and are skipped. The proxy
/// labels its metrics from here, so a function it has not seen is `unknown`. It also keeps the
/// FunctionPlacements of those namespaces, the replicas' shared record of where each function
/// was placed.
public final class FunctionDirectory: Service, Sendable {
    public struct Settings: Sendable, Hashable {
        public var functionsNamespaces: [String]
        public var direktivNamespaces: [String]

        public init(functionsNamespaces: [String], direktivNamespaces: [String]) {
            self.functionsNamespaces = functionsNamespaces
            self.direktivNamespaces = direktivNamespaces
        }

        public init(rules: Rules) {
            self.init(functionsNamespaces: rules.functionsNamespaces, direktivNamespaces: rules.direktivNamespaces)
        }
    }

    private struct State {
        var settings: Settings
        var resolver: NamespaceResolver
        var services: [FunctionKey: KnativeService] = [:]
        var deployments: [FunctionKey: Deployment] = [:]
        var placements: [FunctionKey: FunctionPlacement] = [:]
        var records: [FunctionKey: FunctionRecord] = [:]
        var syncedInformers: Set<String> = []
        /// Told when the namespaces to watch change; one per watching generation.
        var namespacesChanged: AsyncStream<Settings>.Continuation?
        /// The namespaces the rules ask for (those watched may lag behind by a restart).
        var requestedNamespaces: [String]

        mutating func rebuild(_ key: FunctionKey) {
            if let deployment = deployments[key] {
                records[key] = FunctionRecord(deployment: deployment, namespaces: resolver)
            } else if let service = services[key] {
                records[key] = FunctionRecord(service: service, namespaces: resolver)
            } else {
                records[key] = nil
            }
        }

        mutating func rebuildAll() {
            records = [:]
            for key in Set(services.keys).union(deployments.keys) { rebuild(key) }
        }

        var sortedRecords: [FunctionRecord] { records.values.sorted { $0.key < $1.key } }
    }

    private let client: KubeClient
    private let state: Mutex<State>
    private let recordsBroadcast = Broadcast<[FunctionRecord]>([])
    private let backoff: Backoff
    private let logger: Logger

    public init(client: KubeClient, settings: Settings, backoff: Backoff = Backoff(), logger: Logger) {
        self.client = client
        self.state = Mutex(
            State(
                settings: settings, resolver: NamespaceResolver(names: settings.direktivNamespaces), requestedNamespaces: settings.functionsNamespaces
            ))
        self.backoff = backoff
        self.logger = logger
    }

    /// The function served at `name.namespace`, if the agent has seen it.
    public func record(namespace: String, name: String) -> FunctionRecord? {
        state.withLock { $0.records[FunctionKey(namespace: namespace, name: name)] }
    }

    /// Every known function, sorted by namespace and name.
    public var records: [FunctionRecord] { state.withLock { $0.sortedRecords } }

    /// Whether every informer has listed its namespace once.
    public var hasSynced: Bool {
        state.withLock { state in
            state.settings.functionsNamespaces.allSatisfy {
                state.syncedInformers.isSuperset(of: ["services/\($0)", "deployments/\($0)", "functionplacements/\($0)"])
            }
        }
    }

    /// The FunctionPlacements as this replica's watch has them.
    public var placements: [FunctionKey: FunctionPlacement] { state.withLock { $0.placements } }

    /// One function's FunctionPlacement, if this replica has seen it.
    public func placement(for key: FunctionKey) -> FunctionPlacement? { state.withLock { $0.placements[key] } }

    /// The records now and after every change.
    public func changes() -> AsyncStream<[FunctionRecord]> {
        recordsBroadcast.follow(buffering: .newest)
    }

    /// Applies new rules: other namespaces are watched from now on, identities are re-read.
    public func reconfigure(_ settings: Settings) {
        state.withLock { state in
            if state.settings.direktivNamespaces != settings.direktivNamespaces {
                state.resolver = NamespaceResolver(names: settings.direktivNamespaces)
                state.settings.direktivNamespaces = settings.direktivNamespaces
                state.rebuildAll()
                publish(&state)
            }
            if state.requestedNamespaces != settings.functionsNamespaces {
                state.requestedNamespaces = settings.functionsNamespaces
                state.namespacesChanged?.yield(settings)
            }
        }
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await self.watchUntilCancelled()
        }
        recordsBroadcast.finish()
    }

    private func watchUntilCancelled() async throws {
        var settings = state.withLock { $0.settings }
        do {
            while !Task.isCancelled {
                guard let next = try await self.watch(settings) else { break }
                settings = next
                self.state.withLock { state in
                    state.settings.functionsNamespaces = next.functionsNamespaces
                    let kept = Set(next.functionsNamespaces)
                    state.services = state.services.filter { kept.contains($0.key.namespace) }
                    state.deployments = state.deployments.filter { kept.contains($0.key.namespace) }
                    state.placements = state.placements.filter { kept.contains($0.key.namespace) }
                    state.syncedInformers = []
                    state.rebuildAll()
                    self.publish(&state)
                }
                self.logger.info("function directory now watches \(next.functionsNamespaces.joined(separator: ", "))")
            }
        }
    }

    /// Watches `settings`' namespaces until the namespaces change (returning the new settings)
    /// or the task ends (returning `nil`).
    private func watch(_ settings: Settings) async throws -> Settings? {
        try await withThrowingTaskGroup(of: Settings?.self) { group in
            for namespace in settings.functionsNamespaces {
                let services = Informer<KnativeService, KnativeService>(
                    client: client, resource: .knativeServices, namespace: namespace, backoff: backoff, logger: logger)
                let deployments = Informer<Deployment, Deployment>(
                    client: client, resource: .deployments, namespace: namespace, backoff: backoff, logger: logger)
                let placements = Informer<FunctionPlacement, FunctionPlacement>(
                    client: client, resource: .functionPlacements, namespace: namespace, backoff: backoff, logger: logger)
                let serviceEvents = services.subscribe()
                let deploymentEvents = deployments.subscribe()
                let placementEvents = placements.subscribe()
                group.addTask {
                    try await placements.run()
                    return nil
                }
                group.addTask {
                    for await event in placementEvents {
                        self.apply(event, informer: "functionplacements/\(namespace)", namespace: namespace, keyPath: \.placements)
                    }
                    return nil
                }
                group.addTask {
                    try await services.run()
                    return nil
                }
                group.addTask {
                    try await deployments.run()
                    return nil
                }
                group.addTask {
                    for await event in serviceEvents {
                        self.apply(event, informer: "services/\(namespace)", namespace: namespace, keyPath: \.services)
                    }
                    return nil
                }
                group.addTask {
                    for await event in deploymentEvents {
                        self.apply(
                            event.filter { !FunctionRecord.isKnativeRevision($0.metadata.labels) }, informer: "deployments/\(namespace)",
                            namespace: namespace, keyPath: \.deployments)
                    }
                    return nil
                }
            }
            let (changes, continuation) = AsyncStream.makeStream(of: Settings.self, bufferingPolicy: .bufferingNewest(1))
            state.withLock { state in
                state.namespacesChanged = continuation
                if state.requestedNamespaces != settings.functionsNamespaces {
                    continuation.yield(
                        Settings(functionsNamespaces: state.requestedNamespaces, direktivNamespaces: state.settings.direktivNamespaces))
                }
            }
            group.addTask {
                for await candidate in changes { return candidate }
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
                if Task.isCancelled { return nil }
            }
            return nil
        }
    }

    private func apply<Object: Sendable>(
        _ event: InformerEvent<Object>?, informer: String, namespace: String, keyPath: WritableKeyPath<State, [FunctionKey: Object]>
    ) {
        guard let event else { return }
        state.withLock { state in
            var touched: [FunctionKey] = []
            switch event {
            case .initial(let objects, let synced):
                touched = state[keyPath: keyPath].keys.filter { $0.namespace == namespace }
                for key in touched { state[keyPath: keyPath][key] = nil }
                for (qualified, object) in objects {
                    let key = Self.key(qualified)
                    state[keyPath: keyPath][key] = object
                    touched.append(key)
                }
                if synced { state.syncedInformers.insert(informer) }
            case .added(let qualified, let object), .modified(let qualified, _, let object):
                let key = Self.key(qualified)
                state[keyPath: keyPath][key] = object
                touched = [key]
            case .deleted(let qualified, _):
                let key = Self.key(qualified)
                state[keyPath: keyPath][key] = nil
                touched = [key]
            case .synced:
                state.syncedInformers.insert(informer)
            case .reconnected, .connectionLost:
                break
            }
            guard !touched.isEmpty else { return }
            for key in touched { state.rebuild(key) }
            publish(&state)
        }
    }

    /// Called under the state lock, so that followers receive the records in order.
    private func publish(_ state: inout State) {
        recordsBroadcast.publish(state.sortedRecords)
    }

    static func key(_ qualified: String) -> FunctionKey {
        let parts = qualified.split(separator: "/", maxSplits: 1)
        return parts.count == 2 ? FunctionKey(namespace: String(parts[0]), name: String(parts[1])) : FunctionKey(namespace: "", name: qualified)
    }
}

extension InformerEvent {
    /// The event with objects failing `include` left out (a filtered modification becomes a deletion).
    func filter(_ include: (Stored) -> Bool) -> InformerEvent? {
        switch self {
        case .initial(let objects, let synced):
            return .initial(objects.filter { include($0.value) }, synced: synced)
        case .added(_, let object):
            return include(object) ? self : nil
        case .modified(let key, let old, let new):
            if include(new) { return include(old) ? self : .added(key: key, new) }
            return include(old) ? .deleted(key: key, old) : nil
        case .deleted(_, let object):
            return include(object) ? self : nil
        case .synced, .reconnected, .connectionLost:
            return self
        }
    }
}
