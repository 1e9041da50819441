import Foundation
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps an in-memory copy of one kind of Kubernetes object with list + watch, and publishes
/// every change to its subscribers.
///
/// Lists page by page, then watches from the list's version with bookmarks; lists again on
/// `410 Gone`; after a dropped connection watches again from the last version seen, waiting a
/// capped, jittered backoff between failures. Objects are stored transformed (for example a
/// Pod as its ``PodUsage``-like summary) to keep memory small.
public final class Informer<Source: Decodable & Sendable, Stored: Sendable>: Service, Sendable {
    public typealias Event = InformerEvent<Stored>

    let client: KubeClient
    let resource: ResourceDescriptor
    let namespace: String?
    let options: ListOptions
    let watchTimeout: Duration
    let logger: Logger
    let describe: @Sendable (Source) -> (key: String, resourceVersion: String?)
    let transform: @Sendable (Source) -> Stored

    private struct State {
        var machine: InformerStateMachine<Stored>
        var subscribers: [UUID: AsyncStream<Event>.Continuation] = [:]
    }

    private let state: Mutex<State>

    public init(
        client: KubeClient,
        resource: ResourceDescriptor,
        namespace: String? = nil,
        options: ListOptions = ListOptions(),
        watchTimeout: Duration = .seconds(300),
        backoff: Backoff = Backoff(),
        logger: Logger,
        describe: @escaping @Sendable (Source) -> (key: String, resourceVersion: String?),
        transform: @escaping @Sendable (Source) -> Stored
    ) {
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.options = options
        self.watchTimeout = watchTimeout
        self.logger = logger
        self.describe = describe
        self.transform = transform
        self.state = Mutex(State(machine: InformerStateMachine(backoff: backoff)))
    }

    /// A stream of changes, starting with ``InformerEvent/initial(_:synced:)`` holding the cache as it is now.
    public func subscribe() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        let id = UUID()
        state.withLock { state in
            continuation.yield(.initial(state.machine.cache.mapValues(\.value), synced: state.machine.hasSynced))
            state.subscribers[id] = continuation
        }
        // Removed from a task of its own: termination runs inside the consumer's cancellation,
        // holding that task's status lock, while a yield under our lock may be waiting for that
        // very lock to resume it (a lock-order deadlock seen in a test run).
        continuation.onTermination = { [weak self] _ in
            Task { _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) } }
        }
        return stream
    }

    /// The cached objects by key (`namespace/name`, or `name` for cluster-scoped objects).
    public func snapshot() -> [String: Stored] {
        state.withLock { $0.machine.cache.mapValues(\.value) }
    }

    public var hasSynced: Bool { state.withLock { $0.machine.hasSynced } }

    /// Runs list and watch until the task is cancelled or a graceful shutdown begins.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
        // Finished outside the lock: finishing runs each stream's termination handler, which locks too.
        let subscribers = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in subscribers { continuation.finish() }
    }

    private func loop() async {
        var next = InformerStateMachine<Stored>.Next.list
        while !Task.isCancelled {
            switch next {
            case .list:
                next = await list()
            case .watch(let version):
                next = await watch(from: version)
            case .waitThenList(let delay):
                guard (try? await Task.sleep(for: delay)) != nil else { return }
                next = .list
            case .waitThenWatch(let delay, let version):
                guard (try? await Task.sleep(for: delay)) != nil else { return }
                next = .watch(from: version)
            }
        }
    }

    private func item(_ source: Source) -> InformerStateMachine<Stored>.Item {
        let (key, version) = describe(source)
        return .init(key: key, resourceVersion: version, value: transform(source))
    }

    private func list() async -> InformerStateMachine<Stored>.Next {
        do {
            // Page by page, converting each page at once, so full objects never pile up.
            var converted: [InformerStateMachine<Stored>.Item] = []
            var pageOptions = options
            pageOptions.limit = 500
            while true {
                let page = try await client.list(Source.self, resource, namespace: namespace, options: pageOptions)
                converted.append(contentsOf: page.items.map(item))
                guard let token = page.metadata?.continue, !token.isEmpty else {
                    let version = page.metadata?.resourceVersion ?? ""
                    return publish { $0.listed(converted, resourceVersion: version) }
                }
                pageOptions.continueToken = token
            }
        } catch {
            if Task.isCancelled { return .list }
            logger.warning("listing \(resource) failed", metadata: ["error": "\(error)"])
            return publish { $0.failed("list \(resource): \(error)", gone: (error as? KubeAPIError)?.isGone ?? false) }
        }
    }

    private func watch(from version: String) async -> InformerStateMachine<Stored>.Next {
        var watchOptions = options
        watchOptions.resourceVersion = version
        // Spread reconnects of many agents over time, as client-go does.
        let seconds = Int(watchTimeout.components.seconds)
        let timeout = max(1, Int.random(in: seconds...max(seconds, seconds * 2 - 1)))
        do {
            let stream = try await client.watch(Source.self, resource, namespace: namespace, options: watchOptions, timeoutSeconds: timeout)
            _ = publish { ($0.watchStarted(), ()) }
            for try await event in stream {
                let reaction = publishReaction(event)
                if let next = reaction { return next }
            }
            return state.withLock { $0.machine.watchEnded() }
        } catch {
            if Task.isCancelled { return .list }
            let gone = (error as? KubeAPIError)?.isGone ?? false
            if !gone { logger.warning("watching \(resource) failed", metadata: ["error": "\(error)"]) }
            return publish { $0.failed("watch \(resource): \(error)", gone: gone) }
        }
    }

    /// Applies one watch event; returns where to go next when the watch must end.
    private func publishReaction(_ event: WatchEvent<Source>) -> InformerStateMachine<Stored>.Next? {
        let converted: WatchEvent<InformerStateMachine<Stored>.Item> =
            switch event {
            case .added(let source): .added(item(source))
            case .modified(let source): .modified(item(source))
            case .deleted(let source): .deleted(item(source))
            case .bookmark(let version): .bookmark(resourceVersion: version)
            case .error(let status): .error(status)
            }
        return state.withLock { state in
            switch state.machine.received(converted) {
            case .publish(let events):
                broadcast(events, to: state.subscribers)
                return nil
            case .end(let next, let events):
                broadcast(events, to: state.subscribers)
                return next
            }
        }
    }

    private func publish<Result>(_ change: (inout InformerStateMachine<Stored>) -> ([Event], Result)) -> Result {
        state.withLock { state in
            let (events, result) = change(&state.machine)
            broadcast(events, to: state.subscribers)
            return result
        }
    }

    private func broadcast(_ events: [Event], to subscribers: [UUID: AsyncStream<Event>.Continuation]) {
        for event in events {
            for continuation in subscribers.values { continuation.yield(event) }
        }
    }
}

extension Informer where Source: KubeObject {
    /// An informer keyed by `namespace/name` with the objects' own resource versions.
    public convenience init(
        client: KubeClient,
        resource: ResourceDescriptor,
        namespace: String? = nil,
        options: ListOptions = ListOptions(),
        watchTimeout: Duration = .seconds(300),
        backoff: Backoff = Backoff(),
        logger: Logger,
        transform: @escaping @Sendable (Source) -> Stored
    ) {
        self.init(
            client: client,
            resource: resource,
            namespace: namespace,
            options: options,
            watchTimeout: watchTimeout,
            backoff: backoff,
            logger: logger,
            describe: { ($0.metadata.qualifiedName, $0.metadata.resourceVersion) },
            transform: transform
        )
    }
}

extension Informer where Source: KubeObject, Stored == Source {
    /// An informer that stores the objects as they are.
    public convenience init(
        client: KubeClient, resource: ResourceDescriptor, namespace: String? = nil, options: ListOptions = ListOptions(),
        backoff: Backoff = Backoff(), logger: Logger
    ) {
        self.init(client: client, resource: resource, namespace: namespace, options: options, backoff: backoff, logger: logger, transform: { $0 })
    }
}
