import DispatchCore
import Foundation
import KubeClient
import KubeModels
import Logging

/// Reads and writes the FunctionPlacements a decision depends on.
///
/// A decision reads from the API server, not from this replica's watch cache: the other replica
/// may have placed a function a moment ago, and its object reaches this cache one watch event
/// later. Two small reads (the function's own placement, and the placements still reserving
/// capacity, found by label) make a burst of creations spread over both replicas see every
/// earlier promise. When the API server cannot be reached the cache stands in, and the
/// placement says so in the log.
public struct PlacementStore: Sendable {
    let client: KubeClient
    /// Who decides: the pod name, written as `status.decidedBy`.
    let identity: String
    let namespaces: @Sendable () -> [String]
    let cache: @Sendable () -> [FunctionKey: FunctionPlacement]
    let beforeWrite: @Sendable (FunctionKey) async -> Void
    let logger: Logger

    /// - Parameter beforeWrite: runs between a decision's read and its write. Nothing in the
    ///   agent uses it; tests put another replica's write there, the race two replicas meet when
    ///   Direktiv recreates a function through both at once.
    public init(
        client: KubeClient, identity: String, namespaces: @escaping @Sendable () -> [String],
        cache: @escaping @Sendable () -> [FunctionKey: FunctionPlacement], beforeWrite: @escaping @Sendable (FunctionKey) async -> Void = { _ in },
        logger: Logger
    ) {
        self.beforeWrite = beforeWrite
        self.client = client
        self.identity = identity
        self.namespaces = namespaces
        self.cache = cache
        self.logger = logger
    }

    /// The function's placement and every reserving one, as the API server has them now.
    public func read(for function: FunctionKey) async -> SharedPlacements {
        do {
            let own: FunctionPlacement?
            do {
                own = try await client.get(FunctionPlacement.self, .functionPlacements, name: function.name, namespace: function.namespace)
            } catch let error as KubeAPIError where error.isNotFound {
                own = nil
            }
            var reserving: [FunctionPlacement] = []
            for namespace in namespaces() {
                let page = try await client.listAll(
                    FunctionPlacement.self, .functionPlacements, namespace: namespace,
                    options: ListOptions(labelSelector: "\(FunctionPlacement.reservingLabel)=true"))
                reserving += page.items
            }
            return SharedPlacements(own: own, reserving: reserving, isFresh: true)
        } catch {
            logger.warning(
                "cannot read the FunctionPlacements; deciding from this replica's cache, which may miss another replica's latest decision",
                metadata: ["function": "\(function)", "error": "\(error)"])
            let cached = cache()
            return SharedPlacements(own: cached[function], reserving: cached.values.filter { $0.reservedUntil != nil }, isFresh: false)
        }
    }

    /// Another replica wrote the function's placement between this replica's read and write.
    public struct Conflict: Error, Sendable {}

    /// Writes `placement` over `existing` (created when there is none), conditional on the
    /// resource version read, then its status.
    ///
    /// - Throws: ``Conflict`` when another writer came first: read again and decide again, which
    ///   keeps that writer's cluster while it stays allowed.
    @discardableResult
    public func write(_ placement: FunctionPlacement, over existing: FunctionPlacement?) async throws -> FunctionPlacement {
        let key = placement.key
        await beforeWrite(key)
        var stored: FunctionPlacement
        do {
            if let existing {
                stored = try await client.patch(
                    FunctionPlacement.self, .functionPlacements, name: key.name, namespace: key.namespace,
                    patch: .merge(Self.mergePatch(placement, over: existing)))
            } else {
                var body = placement
                body.status = nil
                stored = try await client.create(body, .functionPlacements, namespace: key.namespace, fieldManager: "direktiv-dispatch")
            }
        } catch let error as KubeAPIError where error.code == 409 || (existing != nil && error.isNotFound) {
            throw Conflict()
        }
        guard var status = placement.status else { return stored }
        status.observedGeneration = stored.metadata.generation
        var patch: [String: JSONValue] = [:]
        for (field, value) in [
            ("outcome", status.outcome), ("reason", status.reason), ("decidedAt", status.decidedAt), ("decidedBy", status.decidedBy),
        ] {
            patch[field] = value.map(JSONValue.string) ?? .null
        }
        patch["observedGeneration"] = status.observedGeneration.map(JSONValue.integer) ?? .null
        stored = try await client.patch(
            FunctionPlacement.self, .functionPlacements, name: key.name, namespace: key.namespace, patch: .merge(["status": .object(patch)]),
            subresource: "status")
        return stored
    }

    /// Moves a placement to `cluster` as an operator's rebalance asked: conditional on the version
    /// read; the leader then patches the workload (``PlacementController``).
    ///
    /// - Throws: ``Conflict`` when the placement changed since it was read.
    public func recordRebalance(_ placement: FunctionPlacement, to cluster: String, reason: String, at date: Date) async throws {
        let key = placement.key
        do {
            _ = try await client.patch(
                FunctionPlacement.self, .functionPlacements, name: key.name, namespace: key.namespace,
                patch: .merge([
                    "metadata": ["resourceVersion": placement.metadata.resourceVersion.map(JSONValue.string) ?? .null],
                    "spec": ["cluster": .string(cluster)],
                ]))
        } catch let error as KubeAPIError where error.code == 409 || error.isNotFound {
            throw Conflict()
        }
        _ = try await client.patch(
            FunctionPlacement.self, .functionPlacements, name: key.name, namespace: key.namespace,
            patch: .merge([
                "status": [
                    "outcome": "rebalanced", "reason": .string(reason), "decidedAt": .string(FunctionPlacement.format(date)),
                    "decidedBy": .string(identity), "failedOverFrom": .null, "clusterLostSince": .null, "originBackSince": .null,
                ]
            ]), subresource: "status")
    }

    /// A merge patch turning `existing` into `placement`: conditional on `existing`'s resource
    /// version, replacing the whole spec (absent fields as nulls, so nothing of the old decision
    /// survives a merge) and the reservation marks.
    static func mergePatch(_ placement: FunctionPlacement, over existing: FunctionPlacement) throws -> JSONValue {
        var spec = try JSONValue(encoding: placement.spec).objectValue ?? [:]
        for field in ["direktivNamespace", "cluster", "rule", "override", "request"] where spec[field] == nil {
            spec[field] = .null
        }
        if let override = placement.spec.override {
            var written = try JSONValue(encoding: override).objectValue ?? [:]
            for field in ["pin", "prefer", "exclude"] where written[field] == nil { written[field] = .null }
            spec["override"] = .object(written)
        }
        let reserving = placement.metadata.labels?[FunctionPlacement.reservingLabel]
        let until = placement.metadata.annotations?[FunctionPlacement.reservedUntilAnnotation]
        return [
            "metadata": [
                "resourceVersion": existing.metadata.resourceVersion.map(JSONValue.string) ?? .null,
                "labels": [FunctionPlacement.reservingLabel: reserving.map(JSONValue.string) ?? .null],
                "annotations": [FunctionPlacement.reservedUntilAnnotation: until.map(JSONValue.string) ?? .null],
            ],
            "spec": .object(spec),
        ]
    }
}
