import DispatchCore
import DispatchMetrics
import Foundation
import KubeClient
import KubeModels
import Logging
import Synchronization

/// The leader's failover: each pass asks ``FailoverPlanner`` what to do about functions whose
/// cluster cannot run them (and those that may return), and does it.
///
/// A move first writes the FunctionPlacement (new `spec.cluster`, outcome `failedOver` or
/// `failedBack`, where it came from) conditional on the version read, then patches the workload's
/// affinity with a JSON Patch whose first operation tests the workload's resourceVersion (a
/// Knative Service rolls a new revision, a Deployment a new ReplicaSet). The webhook sees that
/// UPDATE and, as the object names the cluster its FunctionPlacement names, keeps it. A leader
/// that dies between the two writes leaves a placement ahead of its workload; the next leader's
/// pass finds the workload on a lost cluster while its placement already names a schedulable
/// one, and patches the workload only (no second decision, no second move).
extension PlacementController {
    /// Nil when this replica stopped leading during the pass.
    func failoverPass(workloads: [FunctionKey: FunctionRecord]) async -> PassReport? {
        let rules = state.rules
        let date = now()
        let snapshot = inventory.snapshot
        let placements = directory.placements
        var functions: [FailoverPlanner.Function] = []
        var waitingToFinish = 0
        for (key, placement) in placements.sorted(by: { $0.key < $1.key }) {
            guard let cluster = placement.spec.cluster, let workload = workloads[key], let request = placement.spec.request else { continue }
            // A move recorded (a rebalance, or a leader that stopped halfway) whose workload is
            // not there yet: apply it, within the move budget.
            // Counted only when the patch changed the workload: this cache may still show the
            // workload as it was before this leader's own patch of a moment ago.
            if workload.cluster != cluster, let from = workload.cluster, placement.isMove {
                guard movesLeft(at: date, rules: rules) > 0 else {
                    waitingToFinish += 1
                    continue
                }
                if await patchWorkload(workload, to: cluster, direktivNamespace: placement.spec.direktivNamespace, rules: rules) {
                    recentMoves.withLock { $0.append(date) }
                    metrics.failover(from: from, to: cluster)
                    // The leader that recorded a failover posts its Event after the patch; it
                    // stopped before, so this one does (a rebalance's Event came with its answer).
                    if let outcome = placement.status?.outcome, let kind = FailoverPlanner.MoveKind(rawValue: outcome) {
                        events?.record(
                            reason: kind == .failover ? "FailedOver" : "FailedBack", message: placement.status?.reason ?? "",
                            isWarning: kind == .failover,
                            for: key, kind: workload.kind, workloadUID: workload.uid, at: date)
                    }
                    logger.notice("finished a recorded move", metadata: ["function": "\(key)", "from": "\(from)", "to": "\(cluster)"])
                }
                continue
            }
            functions.append(
                FailoverPlanner.Function(
                    key: key, direktivNamespace: placement.spec.direktivNamespace, cluster: cluster, requestPerPod: request.perPod,
                    replicas: request.replicas, lostSince: FunctionPlacement.parse(placement.status?.clusterLostSince)?.timeIntervalSince1970,
                    failedOverFrom: placement.status?.failedOverFrom,
                    originBackSince: FunctionPlacement.parse(placement.status?.originBackSince)?.timeIntervalSince1970))
        }
        let actions = FailoverPlanner.plan(
            functions, rules: rules, overrides: state.overrides, inventory: snapshot, latencies: state.latencyTable,
            now: date.timeIntervalSince1970, budget: movesLeft(at: date, rules: rules))
        var deferred = waitingToFinish
        // Stranded after this pass: as read, less those cleared or moved, plus those stranded now.
        var strandedKeys = Set(placements.filter { $0.value.condition(FunctionPlacement.ConditionType.stranded)?.status == "True" }.keys)
        for action in actions {
            guard leadership.value.isLeader else { return nil }
            switch action {
            case .markLost(let key, let since):
                await patchStatus(key, ["clusterLostSince": .string(FunctionPlacement.format(Date(timeIntervalSince1970: since)))])
            case .clearLost(let key):
                strandedKeys.remove(key)
                await patchStatus(key, ["clusterLostSince": .null, "conditions": conditions(placements[key], stranded: nil, date: date)])
            case .markOriginBack(let key, let since):
                await patchStatus(key, ["originBackSince": .string(FunctionPlacement.format(Date(timeIntervalSince1970: since)))])
            case .clearOriginBack(let key):
                await patchStatus(key, ["originBackSince": .null])
            case .move(let key, let from, let decision, let kind):
                strandedKeys.remove(key)
                guard let placement = placements[key], let workload = workloads[key] else { continue }
                await move(placement, workload: workload, from: from, decision: decision, kind: kind, rules: rules, date: date)
            case .stranded(let key, let from, let reason):
                strandedKeys.insert(key)
                guard let placement = placements[key], placement.condition(FunctionPlacement.ConditionType.stranded)?.status != "True" else {
                    continue
                }
                let message = "\(from) cannot run it and no other cluster may: \(reason)"
                await patchStatus(key, ["conditions": conditions(placement, stranded: message, date: date)])
                events?.record(
                    reason: "Stranded", message: message, isWarning: true, for: key, kind: workloads[key]?.kind ?? .knativeService,
                    workloadUID: workloads[key]?.uid, at: date)
                logger.warning("function stranded", metadata: ["function": "\(key)", "cluster": "\(from)", "why": "\(reason)"])
            case .deferred:
                deferred += 1
            }
        }
        metrics.failoverMovesWaiting(deferred)
        var stranded = Dictionary(grouping: strandedKeys, by: { placements[$0]?.spec.cluster ?? "" }).mapValues(\.count)
        strandedClusters.withLock { clusters in
            for cluster in clusters where stranded[cluster] == nil { stranded[cluster] = 0 }
            clusters = Set(stranded.keys)
        }
        metrics.strandedFunctions(stranded)
        return PassReport(
            nextDue: FailoverPlanner.nextDue(functions, rules: rules, inventory: snapshot, now: date.timeIntervalSince1970).map(
                Date.init(timeIntervalSince1970:)))
    }

    func move(
        _ placement: FunctionPlacement, workload: FunctionRecord, from: String, decision: PlacementDecision, kind: FailoverPlanner.MoveKind,
        rules: Rules, date: Date
    ) async {
        let key = placement.key
        guard let target = decision.cluster else { return }
        let reason =
            kind == .failover
            ? "failed over from \(from) (unschedulable for \(rules.failover(for: placement.spec.direktivNamespace).afterSeconds) s): \(decision.summary)"
            : "failed back to \(target), the cluster it had failed over from: schedulable again and still allowed by its rules"
        do {
            _ = try await client.patch(
                JSONValue.self, .functionPlacements, name: key.name, namespace: key.namespace,
                patch: .merge([
                    "metadata": ["resourceVersion": placement.metadata.resourceVersion.map(JSONValue.string) ?? .null],
                    "spec": ["cluster": .string(target)],
                ]))
            _ = try await client.patch(
                JSONValue.self, .functionPlacements, name: key.name, namespace: key.namespace,
                patch: .merge([
                    "status": [
                        "outcome": .string(kind.rawValue), "reason": .string(reason), "decidedAt": .string(FunctionPlacement.format(date)),
                        "decidedBy": .string(identity), "clusterLostSince": .null, "originBackSince": .null,
                        "failedOverFrom": kind == .failover ? .string(placement.status?.failedOverFrom ?? from) : .null,
                        "conditions": conditions(placement, stranded: nil, date: date),
                    ]
                ]), subresource: "status")
        } catch {
            // Another writer (a replica deciding for a recreation) came first: the next pass sees it.
            logger.info("failover: the placement changed meanwhile; deciding again next pass", metadata: ["function": "\(key)", "error": "\(error)"])
            return
        }
        // The move is decided and recorded: it counts against the budget even when the workload
        // patch fails (the next pass finishes it, and counts nothing then unless it patches).
        recentMoves.withLock { $0.append(date) }
        metrics.failover(from: from, to: target)
        await patchWorkload(workload, to: target, direktivNamespace: placement.spec.direktivNamespace, rules: rules)
        events?.record(
            reason: kind == .failover ? "FailedOver" : "FailedBack", message: reason, isWarning: kind == .failover, for: key, kind: workload.kind,
            workloadUID: workload.uid, at: date)
        logger.notice("function moved", metadata: ["function": "\(key)", "from": "\(from)", "to": "\(target)", "kind": "\(kind.rawValue)"])
    }

    /// What is left of `maxMovesPerMinute` at `date`, the moves older than a minute forgotten.
    func movesLeft(at date: Date, rules: Rules) -> Int {
        recentMoves.withLock { moves in
            moves.removeAll { date.timeIntervalSince($0) >= 60 }
            return rules.failover.maxMovesPerMinute - moves.count
        }
    }

    /// Pins the workload to `cluster`, conditional on the version read; retried on conflict.
    /// Returns whether it changed the workload (false when it was pinned there already or the
    /// patch failed).
    @discardableResult
    func patchWorkload(_ workload: FunctionRecord, to cluster: String, direktivNamespace: String?, rules: Rules) async -> Bool {
        let resource: ResourceDescriptor = workload.kind == .knativeService ? .knativeServices : .deployments
        for _ in 0..<3 {
            do {
                let object = try await client.get(JSONValue.self, resource, name: workload.key.name, namespace: workload.key.namespace)
                let operations = PlacementPatch.operations(
                    for: object, cluster: cluster, direktivNamespace: direktivNamespace, settings: PatchSettings(rules: rules))
                guard !operations.isEmpty else { return false }
                let version = object[path: "metadata", "resourceVersion"] ?? .null
                _ = try await client.patch(
                    JSONValue.self, resource, name: workload.key.name, namespace: workload.key.namespace,
                    patch: .json([JSONPatchOperation(op: .test, path: "/metadata/resourceVersion", value: version)] + operations))
                return true
            } catch let error as KubeAPIError where error.code == 409 || error.code == 422 {
                continue  // changed between read and write (a failed test is 422): read again
            } catch {
                logger.warning("failover: cannot patch the workload", metadata: ["function": "\(workload.key)", "error": "\(error)"])
                return false
            }
        }
        return false
    }

    func patchStatus(_ key: FunctionKey, _ fields: [String: JSONValue]) async {
        do {
            _ = try await client.patch(
                JSONValue.self, .functionPlacements, name: key.name, namespace: key.namespace, patch: .merge(["status": .object(fields)]),
                subresource: "status")
        } catch {
            logger.debug("failover: status not written", metadata: ["function": "\(key)", "error": "\(error)"])
        }
    }

    /// The placement's conditions with `Stranded` set (a message) or cleared (nil).
    func conditions(_ placement: FunctionPlacement?, stranded message: String?, date: Date) -> JSONValue {
        var conditions = (placement?.status?.conditions ?? []).filter { $0.type != FunctionPlacement.ConditionType.stranded }
        if let message {
            conditions.append(
                Condition(
                    type: FunctionPlacement.ConditionType.stranded, status: "True", reason: "NoEligibleCluster", message: message,
                    lastTransitionTime: FunctionPlacement.format(date)))
        }
        return .array(conditions.map(PlacementUpkeep.json))
    }
}

extension FunctionPlacement {
    /// Whether the last decision moved a running function (failover, failback, rebalance): the
    /// leader patches a workload that does not match it yet.
    var isMove: Bool { ["failedOver", "failedBack", "rebalanced"].contains(status?.outcome ?? "") }
}
