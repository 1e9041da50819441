import Foundation
import KubeModels
import Synchronization

/// How a DELETE is carried out (`DeleteOptions` and the query parameters of the same names).
public struct DeletionOptions: Sendable {
    /// What happens to the objects that name the deleted one as their owner.
    public enum Propagation: String, Sendable {
        /// Their owner reference is removed; they stay.
        case orphan = "Orphan"
        /// The garbage collector deletes them after the owner is gone.
        case background = "Background"
        /// They are deleted first; the owner stays, being deleted, until they are gone.
        case foreground = "Foreground"
    }

    /// Seconds a pod gets to stop; nil for the pod's own `terminationGracePeriodSeconds`; 0 deletes at once.
    public var gracePeriodSeconds: Int64?
    public var propagationPolicy: Propagation?
    public var preconditionUID: String?
    public var preconditionResourceVersion: String?
    public var dryRun: Bool

    public init(
        gracePeriodSeconds: Int64? = nil, propagationPolicy: Propagation? = nil, preconditionUID: String? = nil,
        preconditionResourceVersion: String? = nil, dryRun: Bool = false
    ) {
        self.gracePeriodSeconds = gracePeriodSeconds
        self.propagationPolicy = propagationPolicy
        self.preconditionUID = preconditionUID
        self.preconditionResourceVersion = preconditionResourceVersion
        self.dryRun = dryRun
    }
}

/// What a DELETE did: the object as it is now, and whether it is gone (200) or being deleted (202).
public struct DeletionResult: Sendable {
    public var object: JSONValue
    public var removed: Bool
}

extension ObjectStore {
    /// Namespaces the API server refuses to delete.
    static let undeletableNamespaces: Set<String> = ["default", "kube-system", "kube-public"]
    static let foregroundFinalizer = "foregroundDeletion"
    static let orphanFinalizer = "orphan"
    /// The namespace controller's finalizer in `spec.finalizers`.
    static let namespaceFinalizer = "kubernetes"

    /// Deletes an object as the API server does (compatibility form: the object as returned).
    @discardableResult
    public func delete(
        _ type: ResourceType, namespace: String?, name: String, preconditions: (uid: String?, resourceVersion: String?) = (nil, nil)
    ) throws(Status) -> JSONValue {
        try delete(
            type, namespace: namespace, name: name,
            options: DeletionOptions(preconditionUID: preconditions.uid, preconditionResourceVersion: preconditions.resourceVersion)
        ).object
    }

    /// Deletes an object as the API server does.
    ///
    /// An object with finalizers, a pod bound to a node (graceful deletion), a namespace, and a
    /// foreground or orphan deletion are not removed: they get `deletionTimestamp` (and
    /// `deletionGracePeriodSeconds`) and stay, Terminating, until their finalizers are gone and,
    /// for a pod, its kubelet confirmed with a grace period of 0 (see ``Kubelet``). The rest goes at once.
    public func delete(_ type: ResourceType, namespace: String?, name: String, options: DeletionOptions) throws(Status) -> DeletionResult {
        if type.storage != type {
            var result = try delete(type.storage, namespace: namespace, name: name, options: options)
            result.object = Self.view(result.object, as: type)
            return result
        }
        if type == .namespaces, Self.undeletableNamespaces.contains(name) {
            throw Status.failure(
                403, .forbidden, "namespaces \"\(name)\" is forbidden: this namespace may not be deleted",
                details: .init(name: name, kind: "namespaces"))
        }
        if let grace = options.gracePeriodSeconds, grace < 0 {
            throw Status.failure(422, .invalid, "\(type.kind) \"\(name)\" is invalid: gracePeriodSeconds: Invalid value: \(grace): must be >= 0")
        }
        return try state.withLock { state throws(Status) in
            let key = ObjectKey(namespace: scope(type, namespace), name: name)
            guard let current = state.objects[type]?[key] else { throw Self.notFound(type, name) }
            if let uid = options.preconditionUID, uid != current[path: "metadata", "uid"]?.stringValue {
                throw Status.failure(
                    409, .conflict,
                    "Precondition failed: UID in precondition: \(uid), UID in object meta: \(current[path: "metadata", "uid"]?.stringValue ?? "")")
            }
            if let version = options.preconditionResourceVersion, version != current[path: "metadata", "resourceVersion"]?.stringValue {
                throw Self.conflict(type, name)
            }
            var metadata = current["metadata"]?.objectValue ?? [:]
            let grace = Self.gracePeriod(current, type, requested: options.gracePeriodSeconds)
            if metadata["deletionTimestamp"] != nil {
                // Being deleted already: only a pod's grace period can shorten (the kubelet's
                // confirmation, or a forced delete); nothing else changes.
                guard type == .pods, let previous = metadata["deletionGracePeriodSeconds"]?.integerValue, grace < previous else {
                    return DeletionResult(object: current, removed: false)
                }
                metadata["deletionGracePeriodSeconds"] = .integer(grace)
                metadata["deletionTimestamp"] = .string(Self.timestamp(Date().addingTimeInterval(TimeInterval(grace))))
                let shortened = current.setting("metadata", .object(metadata))
                if options.dryRun { return DeletionResult(object: shortened, removed: false) }
                if Self.isReadyToGo(shortened, type) { return DeletionResult(object: remove(&state, type, key, shortened), removed: true) }
                return DeletionResult(object: store(&state, type, key, old: current, new: shortened), removed: false)
            }
            var finalizers = metadata["finalizers"]?.arrayValue?.compactMap(\.stringValue) ?? []
            switch options.propagationPolicy {
            case .foreground?: if !finalizers.contains(Self.foregroundFinalizer) { finalizers.append(Self.foregroundFinalizer) }
            case .orphan?: if !finalizers.contains(Self.orphanFinalizer) { finalizers.append(Self.orphanFinalizer) }
            case .background?, nil: break
            }
            var next = current
            if type == .namespaces {
                next = next.setting(path: ["status", "phase"], "Terminating")
            }
            let staysForNow = grace > 0 || !finalizers.isEmpty || type == .namespaces
            guard staysForNow else {
                if options.dryRun { return DeletionResult(object: current, removed: true) }
                return DeletionResult(object: remove(&state, type, key, current), removed: true)
            }
            metadata["finalizers"] = finalizers.isEmpty ? nil : .array(finalizers.map(JSONValue.string))
            metadata["deletionTimestamp"] = .string(Self.timestamp(Date().addingTimeInterval(TimeInterval(grace))))
            metadata["deletionGracePeriodSeconds"] = .integer(grace)
            next = next.setting("metadata", .object(metadata))
            if options.dryRun { return DeletionResult(object: next, removed: false) }
            return DeletionResult(object: store(&state, type, key, old: current, new: next), removed: false)
        }
    }

    /// A pod's grace period: what the request asks, else its `terminationGracePeriodSeconds`
    /// (default 30); 0 for a pod on no node or already finished (the API server deletes those at
    /// once). Other kinds have none.
    static func gracePeriod(_ object: JSONValue, _ type: ResourceType, requested: Int64?) -> Int64 {
        guard type == .pods else { return 0 }
        let bound = !(object[path: "spec", "nodeName"]?.stringValue ?? "").isEmpty
        let phase = object[path: "status", "phase"]?.stringValue
        guard bound, phase != "Succeeded", phase != "Failed" else { return 0 }
        return max(0, requested ?? object[path: "spec", "terminationGracePeriodSeconds"]?.integerValue ?? 30)
    }

    /// Whether an object being deleted has nothing left holding it: no finalizers (for a
    /// namespace, none in `spec.finalizers` either) and, for a pod, a confirmed grace period of 0.
    static func isReadyToGo(_ object: JSONValue, _ type: ResourceType) -> Bool {
        guard object[path: "metadata", "deletionTimestamp"] != nil else { return false }
        guard object[path: "metadata", "finalizers"]?.arrayValue?.isEmpty ?? true else { return false }
        if type == .namespaces { return object[path: "spec", "finalizers"]?.arrayValue?.isEmpty ?? true }
        if type == .pods { return object[path: "metadata", "deletionGracePeriodSeconds"]?.integerValue == 0 }
        return true
    }

    /// Finalizers may only be removed from an object being deleted, never added.
    static func checkNoNewFinalizers(_ proposed: JSONValue?, current: JSONValue?, _ type: ResourceType, _ name: String) throws(Status) {
        let before = Set(current?.arrayValue?.compactMap(\.stringValue) ?? [])
        let after = proposed?.arrayValue?.compactMap(\.stringValue) ?? []
        guard after.allSatisfy(before.contains) else {
            throw Status.failure(
                422, .invalid,
                "\(type.kind) \"\(name)\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers \(after.filter { !before.contains($0) })",
                details: .init(
                    name: name, group: type.group, kind: type.kind,
                    causes: [
                        .init(
                            reason: "FieldValueForbidden", message: "no new finalizers can be added if the object is being deleted",
                            field: "metadata.finalizers")
                    ]))
        }
    }

    /// What the API server fills in on a new namespace: the namespace controller's finalizer and phase Active.
    static func namespaceDefaults(_ object: JSONValue) -> JSONValue {
        var result = object
        if result[path: "spec", "finalizers"] == nil { result = result.setting(path: ["spec", "finalizers"], [.string(namespaceFinalizer)]) }
        return result.setting(path: ["status", "phase"], "Active")
    }

    /// Stores a changed object with a new version and a MODIFIED event.
    func store(_ state: inout State, _ type: ResourceType, _ key: ObjectKey, old: JSONValue, new: JSONValue) -> JSONValue {
        state.resourceVersion += 1
        let stored = new.setting("metadata", (new["metadata"] ?? [:]).setting("resourceVersion", .string(String(state.resourceVersion))))
        state.objects[type, default: [:]][key] = stored
        record(&state, Change(resourceVersion: state.resourceVersion, type: type, kind: .modified, old: old, new: stored))
        return stored
    }

    /// Every stored object of every type, for the controllers that look across kinds (garbage
    /// collection, namespace deletion).
    public func allObjects() -> [(type: ResourceType, object: JSONValue)] {
        state.withLock { state in
            state.objects.flatMap { type, objects in objects.values.map { (type: type, object: $0) } }
        }
    }
}
