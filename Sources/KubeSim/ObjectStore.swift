import Foundation
import KubeModels
import Synchronization

/// KubeSim's storage: Kubernetes objects as JSON with the API server's semantics.
///
/// One global resource version counter; `uid`, `creationTimestamp` and `generation` set on
/// create; optimistic concurrency on `metadata.resourceVersion`; errors as `Status` values;
/// label and field selectors; paged lists; and watches fed from a bounded window of recent
/// events, answering `410 Expired` once a requested version has fallen out of it.
public final class ObjectStore: Sendable {
    struct ObjectKey: Hashable, Comparable {
        var namespace: String
        var name: String
        static func < (lhs: ObjectKey, rhs: ObjectKey) -> Bool { (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name) }
    }

    /// One change, as kept in the event window.
    struct Change {
        var resourceVersion: Int
        var time: ContinuousClock.Instant = .now
        var type: ResourceType
        var kind: WatchFrame.Kind
        var old: JSONValue?
        var new: JSONValue
    }

    struct Watcher {
        /// The type stored, and the one the watcher asked for (they differ for events.k8s.io Events).
        var type: ResourceType
        var view: ResourceType
        var namespace: String?
        var labelSelector: LabelSelector?
        var fieldSelector: FieldSelector?
        var continuation: AsyncStream<WatchFrame>.Continuation
    }

    struct State {
        var objects: [ResourceType: [ObjectKey: JSONValue]] = [:]
        var resourceVersion = 100
        var window: [Change] = []
        var windowStart = 0
        /// Per type: its events at or below this version are no longer in the window.
        var compactedThroughByType: [ResourceType: Int] = [:]
        /// Per type: how many of its events the window holds.
        var countByType: [ResourceType: Int] = [:]
        var initialResourceVersion = 100
        var watchers: [UUID: Watcher] = [:]
        /// Keys in list order, per type; rebuilt after a create or delete, not on every page.
        var sortedKeys: [ResourceType: [ObjectKey]] = [:]

        func compactedThrough(_ type: ResourceType) -> Int {
            compactedThroughByType[type] ?? initialResourceVersion
        }

        /// The objects of a type as they were at `version`: today's, with every later change of
        /// that type in the window undone.
        func objects(of type: ResourceType, at version: Int) -> [ObjectKey: JSONValue] {
            var objects = self.objects[type] ?? [:]
            for change in window[windowStart...].reversed() where change.type == type {
                guard change.resourceVersion > version else { break }
                let object = change.kind == .added ? change.new : (change.old ?? change.new)
                let key = ObjectKey(
                    namespace: object[path: "metadata", "namespace"]?.stringValue ?? "", name: object[path: "metadata", "name"]?.stringValue ?? "")
                switch change.kind {
                case .added: objects[key] = nil
                case .modified, .deleted: objects[key] = change.old
                }
            }
            return objects
        }

        mutating func keys(of type: ResourceType) -> [ObjectKey] {
            if let cached = sortedKeys[type] { return cached }
            let keys = (objects[type] ?? [:]).keys.sorted()
            sortedKeys[type] = keys
            return keys
        }
    }

    let state = Mutex(State())
    /// At most this many events of one type are kept for watches and lists at an older version.
    public let eventWindow: Int
    /// Events are kept this long, per type, as the API server's watch cache keeps them (its
    /// event history window, 75 seconds to 5 minutes).
    public let eventWindowDuration: Duration

    /// The time events are stamped with (a test's clock can stand in).
    let now: @Sendable () -> ContinuousClock.Instant

    public init(
        eventWindow: Int = 10_000, eventWindowDuration: Duration = .seconds(300), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.eventWindow = max(1, eventWindow)
        self.eventWindowDuration = eventWindowDuration
        self.now = now
    }

    // MARK: - Reads

    public func get(_ type: ResourceType, namespace: String?, name: String) throws(Status) -> JSONValue {
        if type.storage != type { return Self.view(try get(type.storage, namespace: namespace, name: name), as: type) }
        return try state.withLock { state throws(Status) in
            guard let object = state.objects[type]?[ObjectKey(namespace: scope(type, namespace), name: name)] else {
                throw Self.notFound(type, name)
            }
            return object
        }
    }

    /// A page of a list: the items, the list's resource version, a continue token when more
    /// follow, and how many follow when that is known (no selectors).
    public struct ListPage: Sendable {
        public var items: [JSONValue]
        public var resourceVersion: String
        public var continueToken: String?
        public var remainingItemCount: Int?
    }

    /// Lists as the API server does. Every page of a paged list shows the store as of the first
    /// page: the continue token carries that resource version, and a token whose version left
    /// the event window is `410 Expired` (with a fresh token that continues inconsistently, as
    /// the API server offers). `resourceVersion` with `resourceVersionMatch`: unset or `"0"`
    /// is the current state; `NotOlderThan` (the default for a version without a limit) is the
    /// current state if it is at least that new; `Exact` (the default for a version with a
    /// limit) is the state at that version, from the window, or 410. A version newer than the
    /// store's is the API server's "Too large resource version" (504).
    public func list(
        _ type: ResourceType,
        namespace: String? = nil,
        labelSelector: LabelSelector? = nil,
        fieldSelector: FieldSelector? = nil,
        limit: Int? = nil,
        continueToken: String? = nil,
        resourceVersion: String? = nil,
        resourceVersionMatch: String? = nil
    ) throws(Status) -> ListPage {
        if type.storage != type {
            var page = try list(
                type.storage, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, limit: limit,
                continueToken: continueToken, resourceVersion: resourceVersion, resourceVersionMatch: resourceVersionMatch)
            page.items = page.items.map { Self.view($0, as: type) }
            return page
        }
        var continuation: ContinueToken?
        if let continueToken, !continueToken.isEmpty {
            if let resourceVersion, !resourceVersion.isEmpty {
                throw Status.failure(400, .badRequest, "specifying resource version is not allowed when using continue")
            }
            continuation = try ContinueToken(decoding: continueToken)
        }
        var requested: Int?
        if let resourceVersion, !resourceVersion.isEmpty, resourceVersion != "0" {
            guard let value = Int(resourceVersion), value > 0 else {
                throw Status.failure(400, .badRequest, "invalid resource version \"\(resourceVersion)\"")
            }
            requested = value
        }
        let limit = limit.flatMap { $0 > 0 ? $0 : nil }
        let exact = resourceVersionMatch == "Exact" || (resourceVersionMatch == nil && limit != nil && requested != nil)
        return try state.withLock { state throws(Status) in
            let snapshot: Int?
            if let continuation {
                guard continuation.resourceVersion >= state.compactedThrough(type) else {
                    var expired = Status.failure(
                        410, .expired,
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
                    )
                    expired.metadata = ListMeta(continue: ContinueToken(resourceVersion: state.resourceVersion, start: continuation.start).encoded)
                    throw expired
                }
                snapshot = continuation.resourceVersion == state.resourceVersion ? nil : continuation.resourceVersion
            } else if let requested {
                if requested > state.resourceVersion {
                    throw Status.failure(
                        504, .timeout, "Too large resource version: \(requested), current: \(state.resourceVersion)",
                        details: .init(causes: [.init(reason: "ResourceVersionTooLarge", message: "Too large resource version", field: nil)]))
                }
                if exact, requested != state.resourceVersion {
                    guard requested >= state.compactedThrough(type) else {
                        throw Status.failure(410, .expired, "too old resource version: \(requested) (\(state.compactedThrough(type)))")
                    }
                    snapshot = requested
                } else {
                    snapshot = nil
                }
            } else {
                snapshot = nil
            }
            let objects = snapshot.map { state.objects(of: type, at: $0) } ?? (state.objects[type] ?? [:])
            let allKeys = snapshot == nil ? state.keys(of: type) : objects.keys.sorted()
            // Binary search for the first key after the continue token.
            var low = 0
            var high = allKeys.count
            if let after = continuation?.start {
                while low < high {
                    let middle = (low + high) / 2
                    if allKeys[middle] > after { high = middle } else { low = middle + 1 }
                }
            }
            let keys = allKeys[low...].lazy.filter { key in namespace == nil || !type.namespaced || key.namespace == namespace }
            var items: [JSONValue] = []
            var last: ObjectKey?
            var remaining = 0
            for key in keys {
                guard let object = objects[key], Self.matches(object, labelSelector, fieldSelector) else { continue }
                if let limit, items.count == limit {
                    remaining += 1
                    // With selectors the count is not known without reading everything, so stop.
                    if labelSelector != nil || fieldSelector != nil { break }
                    continue
                }
                items.append(object)
                last = key
            }
            let version = snapshot ?? state.resourceVersion
            let token = remaining > 0 ? last.map { ContinueToken(resourceVersion: version, start: $0).encoded } : nil
            let count = remaining > 0 && labelSelector == nil && fieldSelector == nil ? remaining : nil
            return ListPage(items: items, resourceVersion: String(version), continueToken: token, remainingItemCount: count)
        }
    }

    /// Where a paged list stands: the version of its first page and the last key returned.
    struct ContinueToken {
        var resourceVersion: Int
        var start: ObjectKey

        init(resourceVersion: Int, start: ObjectKey) {
            self.resourceVersion = resourceVersion
            self.start = start
        }

        init(decoding token: String) throws(Status) {
            guard let data = Data(base64Encoded: token), let json = try? JSONValue.parse(data),
                let version = json["rv"]?.integerValue, let namespace = json["ns"]?.stringValue, let name = json["name"]?.stringValue
            else {
                throw Status.failure(400, .badRequest, "continue key is not valid: the token is not one this server issued")
            }
            self.init(resourceVersion: Int(version), start: ObjectKey(namespace: namespace, name: name))
        }

        var encoded: String {
            let json: JSONValue = [
                "v": "meta.k8s.io/v1", "rv": .integer(Int64(resourceVersion)), "ns": .string(start.namespace), "name": .string(start.name),
            ]
            return ((try? json.encoded()) ?? Data()).base64EncodedString()
        }
    }

    /// The current resource version.
    public var currentResourceVersion: String {
        state.withLock { String($0.resourceVersion) }
    }

    // MARK: - Writes

    /// Stores a new object; fills in uid, timestamps, version and generation.
    public func create(_ object: JSONValue, _ type: ResourceType, namespace: String?, dryRun: Bool = false) throws(Status) -> JSONValue {
        if type.storage != type {
            let checked = try Self.validated(object, type, namespace: namespace)
            try EventConversion.validateCreate(checked)
            return Self.view(try create(EventConversion.toCore(checked), type.storage, namespace: namespace, dryRun: dryRun), as: type)
        }
        var object = BuiltInDefaults.applied(try Self.validated(object, type, namespace: namespace), type)
        return try state.withLock { state throws(Status) in
            var metadata = object["metadata"]?.objectValue ?? [:]
            if metadata["name"]?.stringValue?.isEmpty ?? true, let prefix = metadata["generateName"]?.stringValue {
                metadata["name"] = .string(prefix + Self.randomSuffix())
            }
            guard let name = metadata["name"]?.stringValue, !name.isEmpty else {
                throw Status.failure(
                    422, .invalid, "\(type.kind) \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    details: .init(
                        group: type.group, kind: type.plural,
                        causes: [
                            .init(reason: "FieldValueRequired", message: "Required value: name or generateName is required", field: "metadata.name")
                        ]))
            }
            try Self.checkName(name, type)
            // The storage layer's check (etcd3 store Create): a version set by the writer means
            // the object was copied from a read, a 500 rather than a silent overwrite.
            if let version = metadata["resourceVersion"]?.stringValue, let number = UInt64(version), number != 0 {
                throw Status.failure(500, .internalError, "resourceVersion should not be set on objects to be created")
            }
            let key = ObjectKey(namespace: scope(type, namespace), name: name)
            if type.namespaced {
                guard let namespaceObject = state.objects[.namespaces]?[ObjectKey(namespace: "", name: key.namespace)] else {
                    throw Self.notFound(.namespaces, key.namespace)
                }
                if namespaceObject[path: "metadata", "deletionTimestamp"] != nil {
                    throw Status.failure(
                        403, .forbidden,
                        "\(type.plural)\(type.group.isEmpty ? "" : "." + type.group) \"\(name)\" is forbidden: unable to create new content in namespace \(key.namespace) because it is being terminated",
                        details: .init(name: name, group: type.group, kind: type.plural))
                }
            }
            if state.objects[type]?[key] != nil {
                throw Status.failure(
                    409, .alreadyExists, "\(type.plural)\(type.group.isEmpty ? "" : "." + type.group) \"\(name)\" already exists",
                    details: .init(name: name, group: type.group, kind: type.plural))
            }
            metadata["uid"] = .string(UUID().uuidString.lowercased())
            metadata["creationTimestamp"] = .string(Self.timestamp())
            if type.namespaced { metadata["namespace"] = .string(key.namespace) } else { metadata["namespace"] = nil }
            if type.tracksGeneration { metadata["generation"] = .integer(1) } else { metadata["generation"] = nil }
            metadata["deletionTimestamp"] = nil
            metadata["deletionGracePeriodSeconds"] = nil
            if type == .namespaces {
                // Set by the API server on every namespace since Kubernetes 1.21, always to its name.
                metadata["labels"] = (metadata["labels"] ?? [:]).setting("kubernetes.io/metadata.name", .string(name))
                object = Self.namespaceDefaults(object)
            }
            if type == .services { object = Self.allocatingClusterIP(object, sequence: state.resourceVersion + 1) }
            // A dry run answers with what would be stored and changes nothing.
            if dryRun { return object.setting("metadata", .object(metadata)) }
            state.resourceVersion += 1
            metadata["resourceVersion"] = .string(String(state.resourceVersion))
            object = object.setting("metadata", .object(metadata))
            state.objects[type, default: [:]][key] = object
            state.sortedKeys[type] = nil
            record(&state, Change(resourceVersion: state.resourceVersion, type: type, kind: .added, old: nil, new: object))
            return object
        }
    }

    /// Replaces an object (PUT). A `metadata.resourceVersion` that is not the stored one is a conflict.
    ///
    /// With `subresource == "status"` only `.status` changes; otherwise `.status` is kept where the
    /// type has a status subresource.
    public func update(
        _ object: JSONValue, _ type: ResourceType, namespace: String?, name: String, subresource: String? = nil, dryRun: Bool = false
    ) throws(Status) -> JSONValue {
        if type.storage != type {
            let checked = try Self.validated(object, type, namespace: namespace)
            let stored = try update(
                EventConversion.toCore(checked), type.storage, namespace: namespace, name: name, subresource: subresource, dryRun: dryRun)
            return Self.view(stored, as: type)
        }
        let object = BuiltInDefaults.applied(try Self.validated(object, type, namespace: namespace), type)
        if let bodyName = object[path: "metadata", "name"]?.stringValue, bodyName != name {
            throw Status.failure(400, .badRequest, "the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        return try state.withLock { state throws(Status) in
            let key = ObjectKey(namespace: scope(type, namespace), name: name)
            guard let current = state.objects[type]?[key] else { throw Self.notFound(type, name) }
            if let expected = object[path: "metadata", "resourceVersion"]?.stringValue, !expected.isEmpty,
                expected != current[path: "metadata", "resourceVersion"]?.stringValue
            {
                throw Self.conflict(type, name)
            }
            return try commit(&state, type, key, current: current, proposed: object, subresource: subresource, dryRun: dryRun)
        }
    }

    /// Applies a change to the stored object under the lock, with no version check: for controllers.
    @discardableResult
    public func modify(
        _ type: ResourceType, namespace: String?, name: String, subresource: String? = nil, _ change: (inout JSONValue) throws -> Void
    ) throws -> JSONValue {
        if type.storage != type {
            let stored = try modify(type.storage, namespace: namespace, name: name, subresource: subresource) { object in
                var viewed = Self.view(object, as: type)
                try change(&viewed)
                object = EventConversion.toCore(viewed)
            }
            return Self.view(stored, as: type)
        }
        return try state.withLock { state in
            let key = ObjectKey(namespace: scope(type, namespace), name: name)
            guard let current = state.objects[type]?[key] else { throw Self.notFound(type, name) }
            var proposed = current
            try change(&proposed)
            return try commit(&state, type, key, current: current, proposed: proposed, subresource: subresource)
        }
    }

    /// Stores `proposed` over `current`: keeps identity fields, honours the status subresource,
    /// bumps generation on spec changes, and records a MODIFIED event when anything changed.
    private func commit(
        _ state: inout State, _ type: ResourceType, _ key: ObjectKey, current: JSONValue, proposed: JSONValue, subresource: String?,
        dryRun: Bool = false
    ) throws(Status) -> JSONValue {
        var next = proposed
        if type.hasStatusSubresource {
            if subresource == "status" {
                next = current.setting("status", proposed["status"])
                next = next.setting("metadata", current["metadata"] ?? [:])
            } else {
                next = next.setting("status", current["status"])
            }
        }
        var metadata = next["metadata"]?.objectValue ?? [:]
        let currentMetadata = current["metadata"]?.objectValue ?? [:]
        for field in ["uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"] {
            metadata[field] = currentMetadata[field]
        }
        if type == .namespaces {
            metadata["labels"] = (metadata["labels"] ?? [:]).setting("kubernetes.io/metadata.name", .string(key.name))
            // spec.finalizers changes only through the namespace's `finalize` subresource (the
            // namespace controller's), as in the API server's namespace strategy.
            if subresource != "finalize" { next = next.setting(path: ["spec", "finalizers"], current[path: "spec", "finalizers"]) }
        }
        if currentMetadata["deletionTimestamp"] != nil {
            try Self.checkNoNewFinalizers(metadata["finalizers"], current: currentMetadata["finalizers"], type, key.name)
        }
        metadata["resourceVersion"] = currentMetadata["resourceVersion"]
        next = next.setting("metadata", .object(metadata))
        try Self.checkLabels(next, type)
        if type == .secrets { try SecretRules.checkUpdate(next, current: current) }
        if next == current { return current }
        if type.tracksGeneration, next["spec"] != current["spec"] {
            metadata["generation"] = .integer((currentMetadata["generation"]?.integerValue ?? 0) + 1)
        }
        next = next.setting("metadata", .object(metadata))
        if dryRun { return next }
        // The write that takes the last finalizer off an object being deleted deletes it.
        if Self.isReadyToGo(next, type) { return remove(&state, type, key, next) }
        return store(&state, type, key, old: current, new: next)
    }

    @discardableResult
    func remove(_ state: inout State, _ type: ResourceType, _ key: ObjectKey, _ object: JSONValue) -> JSONValue {
        state.objects[type]?[key] = nil
        state.sortedKeys[type] = nil
        state.resourceVersion += 1
        var metadata = object["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = .string(String(state.resourceVersion))
        let deleted = object.setting("metadata", .object(metadata))
        record(&state, Change(resourceVersion: state.resourceVersion, type: type, kind: .deleted, old: object, new: deleted))
        return deleted
    }

    // MARK: - Watch

    /// Starts a watch. From `resourceVersion` nil, empty or `"0"` it first sends the current
    /// objects as ADDED; from a version inside the window it replays what followed; from an older
    /// one it sends a `410 Expired` error and ends; from a newer one than the store's it is the
    /// API server's 504 "Too large resource version". With `sendInitialEvents` it sends the
    /// current objects as ADDED and then the `k8s.io/initial-events-end` bookmark (the streaming
    /// list that replaces a LIST before a watch).
    public func watch(
        _ type: ResourceType,
        namespace: String? = nil,
        labelSelector: LabelSelector? = nil,
        fieldSelector: FieldSelector? = nil,
        resourceVersion: String? = nil,
        sendInitialEvents: Bool = false
    ) throws(Status) -> WatchRegistration {
        let view = type
        let type = type.storage
        var from: Int?
        if let resourceVersion, !resourceVersion.isEmpty, resourceVersion != "0" {
            guard let value = Int(resourceVersion) else {
                throw Status.failure(400, .badRequest, "invalid resource version \"\(resourceVersion)\"")
            }
            from = value
        }
        let (stream, continuation) = AsyncStream.makeStream(of: WatchFrame.self, bufferingPolicy: .unbounded)
        let id = UUID()
        let watcher = Watcher(
            type: type, view: view, namespace: type.namespaced ? namespace : nil, labelSelector: labelSelector, fieldSelector: fieldSelector,
            continuation: continuation)
        let expired: Bool = try state.withLock { state throws(Status) in
            if let from, from > state.resourceVersion {
                throw Status.failure(
                    504, .timeout, "Too large resource version: \(from), current: \(state.resourceVersion)",
                    details: .init(causes: [.init(reason: "ResourceVersionTooLarge", message: "Too large resource version", field: nil)]))
            }
            if sendInitialEvents {
                let objects = state.objects[type] ?? [:]
                for key in objects.keys.sorted() where watcher.namespace == nil || key.namespace == watcher.namespace {
                    let object = objects[key]!
                    if Self.matches(object, labelSelector, fieldSelector) { continuation.yield(.event(.added, Self.view(object, as: view))) }
                }
                continuation.yield(.initialEventsEnd(String(state.resourceVersion)))
            } else if let from {
                if from < state.compactedThrough(type) {
                    continuation.yield(.error(Status.failure(410, .expired, "too old resource version: \(from) (\(state.compactedThrough(type)))")))
                    return true
                }
                for change in state.window[state.windowStart...] where change.resourceVersion > from {
                    if let frame = Self.frame(for: change, watcher) { continuation.yield(frame) }
                }
            } else {
                let objects = state.objects[type] ?? [:]
                for key in objects.keys.sorted() where watcher.namespace == nil || key.namespace == watcher.namespace {
                    let object = objects[key]!
                    if Self.matches(object, labelSelector, fieldSelector) { continuation.yield(.event(.added, Self.view(object, as: view))) }
                }
            }
            state.watchers[id] = watcher
            return false
        }
        if expired { continuation.finish() }
        // Off the cancelling task: frames are yielded under this lock (see Informer.subscribe).
        continuation.onTermination = { [weak self] _ in
            Task { _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) } }
        }
        return WatchRegistration(id: id, frames: stream, store: self)
    }

    /// Sends a bookmark with the current version to one watch.
    func bookmark(_ id: UUID) {
        state.withLock { state in
            state.watchers[id]?.continuation.yield(.bookmark(String(state.resourceVersion)))
        }
    }

    /// Ends a watch from the server side (its timeout).
    func endWatch(_ id: UUID) {
        let watcher = state.withLock { $0.watchers.removeValue(forKey: id) }
        watcher?.continuation.finish()
    }

    /// Ends every watch: what a restarting API server does to its clients.
    public func endAllWatches() {
        let watchers = state.withLock { state in
            defer { state.watchers.removeAll() }
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.continuation.finish() }
    }

    public var watcherCount: Int { state.withLock { $0.watchers.count } }

    func record(_ state: inout State, _ change: Change) {
        var change = change
        change.time = now()
        state.window.append(change)
        state.countByType[change.type, default: 0] += 1
        // Drop from the front what is too old, and what exceeds a type's share.
        let cutoff = change.time - eventWindowDuration
        while state.windowStart < state.window.count {
            let oldest = state.window[state.windowStart]
            let overCount = (state.countByType[oldest.type] ?? 0) > eventWindow
            guard oldest.time < cutoff || overCount else { break }
            state.compactedThroughByType[oldest.type] = oldest.resourceVersion
            state.countByType[oldest.type, default: 1] -= 1
            state.windowStart += 1
        }
        // A type over its share behind the front is trimmed lazily: mark it compacted there.
        if (state.countByType[change.type] ?? 0) > eventWindow,
            let index = state.window[state.windowStart...].firstIndex(where: { $0.type == change.type })
        {
            state.compactedThroughByType[change.type] = state.window[index].resourceVersion
            state.window.remove(at: index)
            state.countByType[change.type, default: 1] -= 1
        }
        if state.windowStart > 1024, state.windowStart * 2 > state.window.count {
            state.window.removeFirst(state.windowStart)
            state.windowStart = 0
        }
        for watcher in state.watchers.values {
            if let frame = Self.frame(for: change, watcher) { watcher.continuation.yield(frame) }
        }
    }

    /// What a watcher sees of a change: objects moving into or out of its selectors appear as
    /// added or deleted, as the API server's watch cache reports them.
    static func frame(for change: Change, _ watcher: Watcher) -> WatchFrame? {
        guard change.type == watcher.type else { return nil }
        guard case .event(let kind, let object)? = changeFrame(for: change, watcher) else { return nil }
        return .event(kind, view(object, as: watcher.view))
    }

    /// An object as a type that shares its storage shows it.
    static func view(_ object: JSONValue, as type: ResourceType) -> JSONValue {
        type == .eventsV1 ? EventConversion.toV1(object) : object
    }

    private static func changeFrame(for change: Change, _ watcher: Watcher) -> WatchFrame? {
        if let namespace = watcher.namespace, change.new[path: "metadata", "namespace"]?.stringValue != namespace { return nil }
        let nowMatches = matches(change.new, watcher.labelSelector, watcher.fieldSelector)
        switch change.kind {
        case .added: return nowMatches ? .event(.added, change.new) : nil
        case .deleted:
            return matches(change.old ?? change.new, watcher.labelSelector, watcher.fieldSelector) ? .event(.deleted, change.new) : nil
        case .modified:
            let matchedBefore = change.old.map { matches($0, watcher.labelSelector, watcher.fieldSelector) } ?? false
            switch (matchedBefore, nowMatches) {
            case (true, true): return .event(.modified, change.new)
            case (false, true): return .event(.added, change.new)
            // Leaving the selector: the object as it was (the last state the watcher saw), at
            // the event's version, as the watch cache sends it.
            case (true, false):
                let previous = change.old ?? change.new
                return .event(
                    .deleted,
                    previous.setting("metadata", (previous["metadata"] ?? [:]).setting("resourceVersion", .string(String(change.resourceVersion)))))
            case (false, false): return nil
            }
        }
    }

    // MARK: - Helpers

    func scope(_ type: ResourceType, _ namespace: String?) -> String {
        type.namespaced ? (namespace ?? "default") : ""
    }

    static func matches(_ object: JSONValue, _ labels: LabelSelector?, _ fields: FieldSelector?) -> Bool {
        if let labels, !labels.matches(object[path: "metadata", "labels"]?.stringMap ?? [:]) { return false }
        if let fields, !fields.matches(object) { return false }
        return true
    }

    static func notFound(_ type: ResourceType, _ name: String) -> Status {
        .failure(
            404, .notFound, "\(type.plural)\(type.group.isEmpty ? "" : "." + type.group) \"\(name)\" not found",
            details: .init(name: name, group: type.group, kind: type.plural))
    }

    static func conflict(_ type: ResourceType, _ name: String) -> Status {
        .failure(
            409, .conflict,
            "Operation cannot be fulfilled on \(type.plural)\(type.group.isEmpty ? "" : "." + type.group) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
            details: .init(name: name, group: type.group, kind: type.plural))
    }

    /// Checks `apiVersion`, `kind` and namespace against the request, as the API server does.
    static func validated(_ object: JSONValue, _ type: ResourceType, namespace: String?) throws(Status) -> JSONValue {
        guard case .object = object else { throw Status.failure(400, .badRequest, "the body of the request is not a JSON object") }
        if let apiVersion = object["apiVersion"]?.stringValue, apiVersion != type.apiVersion {
            throw Status.failure(
                400, .badRequest, "the API version in the data (\(apiVersion)) does not match the expected API version (\(type.apiVersion))")
        }
        if let kind = object["kind"]?.stringValue, kind != type.kind {
            throw Status.failure(400, .badRequest, "the kind in the data (\(kind)) does not match the expected kind (\(type.kind))")
        }
        if let metadata = object["metadata"], metadata.objectValue == nil {
            throw Status.failure(400, .badRequest, "metadata must be an object")
        }
        if type.namespaced, let namespace, let bodyNamespace = object[path: "metadata", "namespace"]?.stringValue, !bodyNamespace.isEmpty,
            bodyNamespace != namespace
        {
            throw Status.failure(400, .badRequest, "the namespace of the provided object does not match the namespace sent on the request")
        }
        var result = object
        if result["apiVersion"] == nil { result = result.setting("apiVersion", .string(type.apiVersion)) }
        if result["kind"] == nil { result = result.setting("kind", .string(type.kind)) }
        try checkLabels(result, type)
        if type == .secrets { result = try SecretRules.normalised(result) }
        return result
    }

    static func checkName(_ name: String, _ type: ResourceType) throws(Status) {
        let valid: Bool
        let rule: String
        switch type {
        case .knativeServices:
            valid = isDNSLabel(name) && name.first!.isLetter
            rule =
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"
        case .namespaces:
            valid = isDNSLabel(name)
            rule =
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        default:
            valid = isDNSSubdomain(name)
            rule =
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        }
        if !valid {
            throw Status.failure(
                422, .invalid, "\(type.kind) \"\(name)\" is invalid: metadata.name: Invalid value: \"\(name)\": \(rule)",
                details: .init(
                    name: name, group: type.group, kind: type.kind,
                    causes: [.init(reason: "FieldValueInvalid", message: "Invalid value: \"\(name)\": \(rule)", field: "metadata.name")]))
        }
    }

    /// IsDNS1123Subdomain: at most 253 characters of dot-separated parts; a part may exceed 63.
    static func isDNSSubdomain(_ name: String) -> Bool {
        name.count <= 253 && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0), maximumLength: 253) }
    }

    static func isDNSLabel(_ name: String, maximumLength: Int = 63) -> Bool {
        guard (1...maximumLength).contains(name.count), let first = name.first, let last = name.last else { return false }
        let allowed = { (c: Character) in c.isASCII && (c.isLowercase || c.isNumber || c == "-") }
        return name.allSatisfy(allowed) && first != "-" && last != "-"
    }

    static func checkLabels(_ object: JSONValue, _ type: ResourceType) throws(Status) {
        for field in ["labels", "annotations"] {
            guard let map = object[path: "metadata", field] else { continue }
            guard case .object(let members) = map, members.values.allSatisfy({ $0.stringValue != nil }) else {
                let name = object[path: "metadata", "name"]?.stringValue ?? ""
                throw Status.failure(
                    422, .invalid, "\(type.kind) \"\(name)\" is invalid: metadata.\(field): Invalid value: values must be strings",
                    details: .init(
                        name: name, kind: type.kind,
                        causes: [.init(reason: "FieldValueInvalid", message: "values must be strings", field: "metadata.\(field)")]))
            }
        }
    }

    /// The API server's service IP allocator: a ClusterIP, NodePort or LoadBalancer Service
    /// without `clusterIP` gets one from the service range (10.96.0.0/12); a headless one (`None`)
    /// and an ExternalName one get none.
    static func allocatingClusterIP(_ service: JSONValue, sequence: Int) -> JSONValue {
        guard service[path: "spec", "type"]?.stringValue != "ExternalName" else { return service }
        if let given = service[path: "spec", "clusterIP"]?.stringValue, !given.isEmpty {
            return service.setting(path: ["spec", "clusterIPs"], service[path: "spec", "clusterIPs"] ?? [.string(given)])
        }
        let address = "10.96.\(sequence / 250 % 250).\(sequence % 250 + 2)"
        return service.setting(path: ["spec", "clusterIP"], .string(address)).setting(path: ["spec", "clusterIPs"], [.string(address)])
    }

    static func randomSuffix() -> String {
        String((0..<5).map { _ in "bcdfghjklmnpqrstvwxz2456789".randomElement()! })
    }

    static func timestamp(_ date: Date = Date()) -> String {
        date.formatted(.iso8601)
    }
}

/// What a watch stream carries.
public enum WatchFrame: Sendable {
    public enum Kind: String, Sendable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
    }

    case event(Kind, JSONValue)
    case bookmark(String)
    /// The bookmark that ends the initial events of a `sendInitialEvents` watch (annotated
    /// `k8s.io/initial-events-end: "true"`), at the version they showed.
    case initialEventsEnd(String)
    case error(Status)
}

/// A running watch: its frames, and a way to end it.
public struct WatchRegistration: Sendable {
    let id: UUID
    public let frames: AsyncStream<WatchFrame>
    let store: ObjectStore

    /// Sends a bookmark carrying the current resource version.
    public func bookmark() { store.bookmark(id) }
    /// Ends the watch from the server's side.
    public func end() { store.endWatch(id) }
}

extension JSONValue {
    /// A copy with one member set (or removed when `value` is nil); non-objects become objects.
    public func setting(_ key: String, _ value: JSONValue?) -> JSONValue {
        var members = objectValue ?? [:]
        members[key] = value
        return .object(members)
    }
}
