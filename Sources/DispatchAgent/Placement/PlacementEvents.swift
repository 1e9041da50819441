import DispatchCore
import Foundation
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// Posts a Kubernetes Event on the workload for every decision (`Placed`, `Kept`, `Fallback`,
/// `Unplaced`, `Rejected`, with the summary), so `kubectl describe ksvc <fn>` explains itself.
///
/// `kubectl describe` shows the Events whose `involvedObject.uid` is the object's, and a workload
/// being created has no uid yet when the webhook decides: the API server assigns it afterwards.
/// So an Event waits here until the function directory sees the workload created after the
/// decision, then names its uid. A rejection never gets a workload; its Event names none (it
/// shows in `kubectl get events`). Events are best effort, as Kubernetes' own are: a full queue
/// drops the oldest, a failed post is logged.
public final class PlacementEvents: Service, Sendable {
    struct Pending: Sendable {
        var key: FunctionKey
        var kind: WorkloadKind
        var reason: String
        var message: String
        var isWarning: Bool
        var uid: String?
        var decidedAt: Date
    }

    /// Events waiting at most; beyond it the oldest is dropped.
    static let limit = 1000
    /// How long an Event waits for its workload before it is posted without a uid.
    static let patience: TimeInterval = 60

    let client: KubeClient
    let identity: String
    let directory: FunctionDirectory
    let logger: Logger
    let now: @Sendable () -> Date
    private let pending = Mutex<[Pending]>([])
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    public init(client: KubeClient, identity: String, directory: FunctionDirectory, logger: Logger, now: @escaping @Sendable () -> Date = { Date() })
    {
        self.client = client
        self.identity = identity
        self.directory = directory
        self.logger = logger
        self.now = now
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The Event's reason for an outcome.
    static func reason(_ outcome: PlacementDecision.Outcome) -> String {
        switch outcome {
        case .placed: "Placed"
        case .kept: "Kept"
        case .fallback: "Fallback"
        case .unplaced: "Unplaced"
        case .rejected: "Rejected"
        }
    }

    /// Queues the Event for a decision; returns at once.
    public func record(_ decision: PlacementDecision, for key: FunctionKey, kind: WorkloadKind, workloadUID: String?, at date: Date) {
        record(
            reason: Self.reason(decision.outcome), message: decision.summary,
            isWarning: decision.outcome == .rejected || decision.outcome == .fallback || decision.outcome == .unplaced, for: key, kind: kind,
            workloadUID: workloadUID, at: date)
    }

    /// Queues an Event of any reason (the leader's `FailedOver`, `FailedBack`, `Stranded`).
    public func record(
        reason: String, message: String, isWarning: Bool, for key: FunctionKey, kind: WorkloadKind, workloadUID: String?, at date: Date
    ) {
        let event = Pending(key: key, kind: kind, reason: reason, message: message, isWarning: isWarning, uid: workloadUID, decidedAt: date)
        pending.withLock { pending in
            if pending.count >= Self.limit { pending.removeFirst() }
            pending.append(event)
        }
        wake.yield()
    }

    public func run() async throws {
        let changes = directory.changes()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in changes.cancelOnGracefulShutdown() { await self.flush() }
            }
            group.addTask {
                for await _ in self.wakes.cancelOnGracefulShutdown() { await self.flush() }
            }
            group.addTask {
                // A rejection or a workload that never shows up still gets its Event in time.
                await repeatUntilShutdown(every: .seconds(5)) { await self.flush() }
            }
            await group.waitForAll()
        }
    }

    /// Posts every Event whose workload is known (or that waited long enough).
    func flush() async {
        let date = now()
        let ready: [Pending] = pending.withLock { pending in
            var ready: [Pending] = []
            pending.removeAll { event in
                var event = event
                if event.uid == nil, event.reason != "Rejected", let record = directory.record(namespace: event.key.namespace, name: event.key.name),
                    let created = FunctionPlacement.parse(record.creationTimestamp),
                    created >= event.decidedAt.addingTimeInterval(-2)
                {
                    event.uid = record.uid
                }
                guard event.uid != nil || event.reason == "Rejected" || date.timeIntervalSince(event.decidedAt) > Self.patience else {
                    return false
                }
                ready.append(event)
                return true
            }
            return ready
        }
        for event in ready { await post(event) }
    }

    func post(_ event: Pending) async {
        let reference = FunctionPlacement.WorkloadReference(kind: event.kind, name: event.key.name)
        var involved: [String: JSONValue] = [
            "apiVersion": .string(reference.apiVersion), "kind": .string(reference.kind), "name": .string(event.key.name),
            "namespace": .string(event.key.namespace),
        ]
        if let uid = event.uid { involved["uid"] = .string(uid) }
        let time = FunctionPlacement.format(event.decidedAt)
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let body: JSONValue = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string("\(event.key.name.prefix(200)).\(suffix)"), "namespace": .string(event.key.namespace)],
            "involvedObject": .object(involved),
            "reason": .string(event.reason),
            "message": .string(String(event.message.prefix(1024))),
            "type": event.isWarning ? "Warning" : "Normal",
            "action": "Place",
            "source": ["component": "direktiv-dispatch"],
            "reportingComponent": "direktiv-dispatch",
            "reportingInstance": .string(String(identity.prefix(128))),
            "firstTimestamp": .string(time), "lastTimestamp": .string(time), "count": 1,
        ]
        do {
            _ = try await client.create(body, .events, namespace: event.key.namespace)
        } catch {
            logger.notice("cannot post the placement Event", metadata: ["function": "\(event.key)", "error": "\(error)"])
        }
    }
}
