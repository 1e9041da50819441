import DispatchCore
import DispatchDoctor
import DispatchProxy
import Foundation
import Hummingbird
import KubeModels
import Logging
import NIOCore

/// The admin API under `/v1` on the admin port: what the agent sees and decided, placement
/// explanations, per-namespace overrides, and functions created through the agent.
///
/// Calls that change something need the admin token (``AdminAuthMiddleware``); reads too when
/// `protectReads` is set. Bodies are JSON of at most ``bodyLimit`` bytes, read strictly: an
/// unknown key or a wrong type is a 400 that says which, and changes nothing.
public struct AdminAPI: Sendable {
    public static let bodyLimit = 64 * 1024
    static let explainPath = "/v1/placements/explain"

    let placer: Placer
    let state: AgentState
    let inventory: LiveInventory
    let functions: FunctionDirectory
    let statistics: InvocationStatistics
    let overrides: OverridesStore
    let creator: FunctionCreator
    let token: AdminToken
    let protectReads: Bool
    /// Who leads, for `/v1/status`.
    let leadership: Broadcast<LeaderElector.Leadership>
    /// Runs the doctor's checks against the cluster, for `/v1/doctor`; nil: 501.
    let doctor: (@Sendable () async throws -> DoctorReport)?
    let logger: Logger

    public init(
        placer: Placer, state: AgentState, inventory: LiveInventory, functions: FunctionDirectory, statistics: InvocationStatistics,
        overrides: OverridesStore, creator: FunctionCreator, token: AdminToken, protectReads: Bool,
        leadership: Broadcast<LeaderElector.Leadership> = Broadcast(LeaderElector.Leadership(isLeader: false, holder: nil)),
        doctor: (@Sendable () async throws -> DoctorReport)? = nil, logger: Logger
    ) {
        self.leadership = leadership
        self.doctor = doctor
        self.placer = placer
        self.state = state
        self.inventory = inventory
        self.functions = functions
        self.statistics = statistics
        self.overrides = overrides
        self.creator = creator
        self.token = token
        self.protectReads = protectReads
        self.logger = logger
    }

    /// Adds the `/v1` routes to `router`.
    public func addRoutes(to router: Router<BasicRequestContext>) {
        let v1 = router.group("v1").add(middleware: AdminAuthMiddleware(token: token, protectReads: protectReads, readOnlyPaths: [Self.explainPath]))
        v1.get("status") { _, _ in Response.json(status()) }
        v1.get("clusters") { _, _ in Response.json(clusters()) }
        v1.get("functions") { _, _ in Response.json(functionList()) }
        v1.get("doctor") { _, _ in try await runDoctor() }
        v1.post("placements/explain") { request, _ in try await explain(request) }
        v1.get("overrides") { _, _ in
            Response.json(
                OverridesBody(
                    overrides: state.overrides, configMap: "\(overrides.namespace)/\(overrides.name)", resourceVersion: overrides.resourceVersion))
        }
        v1.get("namespaces/:namespace/override") { _, context in try readOverride(context.parameters.require("namespace")) }
        v1.put("namespaces/:namespace/override") { request, context in try await putOverride(context.parameters.require("namespace"), request) }
        v1.delete("namespaces/:namespace/override") { _, context in try await deleteOverride(context.parameters.require("namespace")) }
        v1.post("namespaces/:namespace/rebalance") { request, context in try await rebalance(context.parameters.require("namespace"), request) }
        v1.post("functions") { request, _ in try await createFunction(request) }
        v1.delete("functions/:namespace/:name") { _, context in
            try await deleteFunction(direktivNamespace: context.parameters.require("namespace"), name: context.parameters.require("name"))
        }
    }

    // MARK: reads

    func status() -> StatusBody {
        let leadership = leadership.value
        let placements = functions.placements
        return StatusBody(
            identity: placer.store?.identity, leader: .init(holder: leadership.holder, isLeader: leadership.isLeader),
            placements: placements.count, reservingPlacements: placements.values.filter { $0.reservedUntil != nil }.count,
            functions: functions.records.count, inventoryStale: inventory.readiness.isStale)
    }

    func clusters() -> ClustersBody {
        let snapshot = inventory.snapshot
        var placed: [String: Int] = [:]
        for record in functions.records {
            if let cluster = record.cluster { placed[cluster, default: 0] += 1 }
        }
        let latencies = state.latencies
        let now = Date()
        let views = snapshot.clusters.map { cluster in
            let roundTrip = latencies[cluster.name]
            return ClusterView(
                name: cluster.name,
                kind: cluster.kind.rawValue,
                remoteClusterIDs: cluster.remoteClusterIDs,
                ready: cluster.isReady,
                reasons: cluster.problems,
                nodes: cluster.nodes.count,
                allocatable: ResourcesView(cluster.total.allocatable),
                requested: ResourcesView(cluster.total.requested),
                free: ResourcesView(cluster.total.free),
                largestNodeFree: ResourcesView(cluster.largestNodeFree),
                functions: placed[cluster.name] ?? 0,
                latency: LatencyView(statistics.latency(cluster: cluster.name)),
                roundTrip: RoundTripView(liqo: roundTrip?.liqo, agent: roundTrip?.agent, effective: roundTrip?.estimate(at: now))
            )
        }
        return ClustersBody(clusters: views, unassignedNodes: snapshot.unassignedNodes, inventoryStale: inventory.readiness.isStale)
    }

    func functionList() -> FunctionsBody {
        let views = functions.records.map { record in
            let placement: PlacementView
            if let shared = functions.placement(for: record.key) {
                placement = PlacementView(
                    outcome: shared.status?.outcome, reason: shared.status?.reason ?? "recorded without a reason",
                    decidedAt: shared.status?.decidedAt,
                    decidedBy: shared.status?.decidedBy, placementCluster: shared.spec.cluster,
                    ready: shared.condition(FunctionPlacement.ConditionType.ready)?.status)
            } else if let cluster = record.cluster {
                placement = PlacementView(
                    outcome: nil,
                    reason:
                        "placed on \(cluster) (from the object's \(FunctionIdentity.clusterAnnotation) annotation); its FunctionPlacement is not recorded yet"
                )
            } else {
                placement = PlacementView(outcome: nil, reason: "not placed by direktiv-dispatch")
            }
            return FunctionView(
                name: record.key.name,
                kubernetesNamespace: record.key.namespace,
                kind: record.kind.rawValue,
                direktivNamespace: record.identity.direktivNamespace,
                cluster: record.cluster,
                placement: placement,
                ready: record.isReady,
                readyReason: record.notReadyReason,
                url: record.url,
                latency: LatencyView(statistics.latency(function: record.key))
            )
        }
        return FunctionsBody(functions: views)
    }

    func explain(_ request: Request) async throws -> Response {
        let body = try await Self.json(request)
        let query: ExplainQuery
        do {
            query = try ExplainQuery(json: body, sizes: state.rules.sizes)
        } catch {
            throw AdminAPIError(.badRequest, error.description)
        }
        return .json(placer.explain(query.placementRequest))
    }

    // MARK: rebalance

    struct RebalanceBody: Encodable {
        var namespace: String
        var dryRun: Bool
        var functions: [Rebalance.Entry]
        /// Functions that would move but whose placement changed meanwhile (decided again by
        /// whoever changed it); call again to include them.
        var conflicts: [String]?
    }

    /// Decides again for every placed function of `namespace` and moves those whose cluster
    /// changes (the leader patches their workloads within the move budget). Body:
    /// `{"dryRun": true|false}` (empty: a real rebalance).
    func rebalance(_ namespace: String, _ request: Request) async throws -> Response {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.bodyLimit)
        } catch {
            throw AdminAPIError(.contentTooLarge, "the body is larger than \(Self.bodyLimit / 1024) KiB")
        }
        var dryRun = false
        if buffer.readableBytes > 0 {
            guard let body = try? JSONValue.parse(buffer.readableBytesView), let object = body.objectValue else {
                throw AdminAPIError(.badRequest, "the body must be a JSON object: {\"dryRun\": true|false}")
            }
            for key in object.keys where key != "dryRun" {
                throw AdminAPIError(.badRequest, "unknown key \"\(key)\" (allowed: dryRun)")
            }
            if let value = object["dryRun"] {
                guard let flag = value.boolValue else { throw AdminAPIError(.badRequest, "dryRun must be true or false") }
                dryRun = flag
            }
        }
        try requireKnown(namespace)
        guard let store = placer.store else { throw AdminAPIError(.notImplemented, "this agent shares no placements") }
        let (rules, overrides) = state.placementInputs
        let placements = functions.placements
        let plan = Rebalance.plan(
            namespace, placements: Array(placements.values), workloads: Set(functions.records.map(\.key)), rules: rules, overrides: overrides,
            inventory: inventory.snapshot, latencies: state.latencyTable)
        var conflicts: [String] = []
        if !dryRun {
            let date = Date()
            for (entry, _) in plan where entry.moves {
                let key = FunctionKey(namespace: entry.kubernetesNamespace, name: entry.name)
                guard let placement = placements[key] else { continue }
                do {
                    try await store.recordRebalance(placement, to: entry.to, reason: "rebalanced from \(entry.from): \(entry.reason)", at: date)
                    placer.events?.record(
                        reason: "Rebalanced", message: "moving from \(entry.from) to \(entry.to): \(entry.reason)", isWarning: false, for: key,
                        kind: placement.spec.workload.workloadKind ?? .knativeService,
                        workloadUID: functions.record(namespace: key.namespace, name: key.name)?.uid, at: date)
                } catch is PlacementStore.Conflict {
                    conflicts.append(entry.name)
                } catch {
                    throw AdminAPIError(.serviceUnavailable, "cannot write the FunctionPlacement of \(key): \(error)")
                }
            }
            logger.notice(
                "rebalance", metadata: ["direktivNamespace": "\(namespace)", "moves": "\(plan.filter(\.entry.moves).count - conflicts.count)"])
        }
        return .json(
            RebalanceBody(namespace: namespace, dryRun: dryRun, functions: plan.map(\.entry), conflicts: conflicts.isEmpty ? nil : conflicts))
    }

    // MARK: overrides

    /// The Direktiv namespaces an override can name: those of the rules, the clusters, the
    /// functions the agent has seen and the overrides already stored.
    func knownNamespaces() -> Set<String> {
        var names = Set(placer.knownNamespaces().names)
        for record in functions.records {
            if let namespace = record.identity.direktivNamespace { names.insert(namespace) }
        }
        return names
    }

    private func requireKnown(_ namespace: String) throws {
        guard knownNamespaces().contains(namespace) else {
            throw AdminAPIError(.notFound, "unknown Direktiv namespace \"\(namespace)\": add it to direktivNamespaces in the rules")
        }
    }

    func readOverride(_ namespace: String) throws -> Response {
        guard let override = state.overrides[namespace] else {
            try requireKnown(namespace)
            throw AdminAPIError(.notFound, "Direktiv namespace \"\(namespace)\" has no override")
        }
        return .json(OverrideBody(namespace: namespace, override: override))
    }

    func putOverride(_ namespace: String, _ request: Request) async throws -> Response {
        let body = try await Self.json(request)
        let override: NamespaceOverride
        do {
            override = try NamespaceOverride(json: body)
        } catch {
            throw AdminAPIError(.badRequest, "invalid override: \(error.description)")
        }
        try requireKnown(namespace)
        let existed: Bool
        do {
            existed = try await overrides.set(override, for: namespace)
        } catch {
            throw Self.storeError(error)
        }
        let clusters = Set(inventory.snapshot.clusters.map(\.name))
        let warnings = override.namedClusters.filter { !clusters.contains($0) }.map {
            "cluster \"\($0)\" is not known now; the override applies once it appears"
        }
        logger.notice("override set", metadata: ["direktivNamespace": "\(namespace)", "override": "\(override.storedValue)"])
        return .json(
            OverrideBody(namespace: namespace, override: override, warnings: warnings.isEmpty ? nil : warnings), status: existed ? .ok : .created)
    }

    func deleteOverride(_ namespace: String) async throws -> Response {
        guard state.overrides[namespace] != nil else {
            try requireKnown(namespace)
            throw AdminAPIError(.notFound, "Direktiv namespace \"\(namespace)\" has no override")
        }
        do {
            guard try await overrides.set(nil, for: namespace) else {
                throw AdminAPIError(.notFound, "Direktiv namespace \"\(namespace)\" has no override")
            }
        } catch let error as OverridesStore.WriteError {
            throw Self.storeError(error)
        }
        logger.notice("override removed", metadata: ["direktivNamespace": "\(namespace)"])
        return Response(status: .noContent)
    }

    static func storeError(_ error: OverridesStore.WriteError) -> AdminAPIError {
        switch error {
        case .conflict: AdminAPIError(.conflict, error.description)
        case .api: AdminAPIError(.badGateway, error.description)
        }
    }

    // MARK: functions

    func createFunction(_ request: Request) async throws -> Response {
        let body = try await Self.json(request)
        let spec: FunctionSpec
        do {
            spec = try FunctionSpec(json: body)
        } catch {
            throw AdminAPIError(.badRequest, error.description)
        }
        do {
            let created = try await creator.create(spec)
            let url = "http://\(created.name).\(created.kubernetesNamespace).svc.cluster.local"
            return .json(
                CreatedBody(
                    name: created.name, direktivNamespace: spec.namespace, kubernetesNamespace: created.kubernetesNamespace, url: url,
                    placement: created.decision), status: .created)
        } catch {
            throw Self.creatorError(error)
        }
    }

    func deleteFunction(direktivNamespace: String, name: String) async throws -> Response {
        do {
            try await creator.delete(direktivNamespace: direktivNamespace, name: name)
            return Response(status: .noContent)
        } catch {
            throw Self.creatorError(error)
        }
    }

    static func creatorError(_ error: FunctionCreator.Failure) -> AdminAPIError {
        switch error {
        // Not a client error nor a passing fault: the deployment does not offer this API.
        case .disabled: AdminAPIError(.notImplemented, error.description)
        case .invalid: AdminAPIError(.badRequest, error.description)
        case .unknownNamespace, .notFound: AdminAPIError(.notFound, error.description)
        case .exists: AdminAPIError(.conflict, error.description)
        case .notManaged, .rejected: AdminAPIError(.forbidden, error.description)
        case .api: AdminAPIError(.badGateway, error.description)
        }
    }

    // MARK: bodies

    /// The request's body as JSON, at most ``bodyLimit`` bytes. The content type is not
    /// checked: `curl -d` labels JSON as a form.
    static func json(_ request: Request) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: bodyLimit)
        } catch is NIOTooManyBytesError {
            throw AdminAPIError(.contentTooLarge, "the body is larger than \(bodyLimit / 1024) KiB")
        }
        do {
            return try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw AdminAPIError(.badRequest, "the body is not JSON: \(error)")
        }
    }
}

extension AdminAPI {
    /// `GET /v1/doctor`: the doctor's checks as this replica sees the cluster; 200 also when a
    /// check fails (the report says so), 502 when the API server cannot be read.
    func runDoctor() async throws -> Response {
        guard let doctor else { throw AdminAPIError(.notImplemented, "the doctor is not available in this agent") }
        do {
            return .json(try await doctor())
        } catch {
            throw AdminAPIError(.badGateway, "cannot read the cluster: \(error)")
        }
    }
}
