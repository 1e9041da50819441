import DispatchCore
import DispatchMetrics
import Foundation
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// Elects one leader among the agent's replicas with a `coordination.k8s.io/v1` Lease, running
/// ``LeaderElectionMachine`` every `retryPeriod` against the API server. `leadership` says at
/// every moment whether this replica leads and who does; on graceful shutdown a leader releases
/// the Lease so the next one takes over at once.
public final class LeaderElector: Service, Sendable {
    /// Who leads, as this replica knows it.
    public struct Leadership: Sendable, Hashable {
        public var isLeader: Bool
        /// The holder named by the Lease last read; nil before the first read.
        public var holder: String?

        public init(isLeader: Bool, holder: String?) {
            self.isLeader = isLeader
            self.holder = holder
        }
    }

    public static let defaultLeaseName = "direktiv-dispatch-leader"

    let client: KubeClient
    let namespace: String
    let name: String
    let logger: Logger
    let now: @Sendable () -> Date
    let metrics: DispatchMetrics
    private let machine: Mutex<LeaderElectionMachine>
    /// Every change of leadership, for the parts that act only on the leader.
    public let leadership = Broadcast(Leadership(isLeader: false, holder: nil))

    public init(
        client: KubeClient, namespace: String, name: String = LeaderElector.defaultLeaseName, identity: String,
        timings: LeaderElectionMachine.Timings = .clientGo, metrics: DispatchMetrics = DispatchMetrics(), logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.metrics = metrics
        self.client = client
        self.namespace = namespace
        self.name = name
        self.logger = logger
        self.now = now
        machine = Mutex(LeaderElectionMachine(identity: identity, timings: timings))
    }

    public var identity: String { machine.withLock { $0.identity } }

    public func run() async throws {
        let period = machine.withLock { $0.timings.retryPeriod }
        await repeatUntilShutdown(every: .milliseconds(Int64(period * 1000))) { await self.round() }
        await release()
        leadership.publishIfChanged(Leadership(isLeader: false, holder: leadership.value.holder))
        metrics.leader(false)
    }

    /// One round: read, decide, write.
    func round() async {
        do {
            let read: (LeaseRecord, String)?
            do {
                let lease = try await client.get(JSONValue.self, .leases, name: name, namespace: namespace)
                read = (Self.record(lease), lease[path: "metadata", "resourceVersion"]?.stringValue ?? "")
            } catch let error as KubeAPIError where error.isNotFound {
                read = nil
            }
            let action = machine.withLock { $0.read(read?.0, resourceVersion: read?.1, now: now()) }
            switch action {
            case .wait(let holder):
                publish(holder: holder)
            case .create(let record):
                _ = try await client.create(lease(record, resourceVersion: nil), .leases, namespace: namespace)
                won(record)
            case .update(let record, let resourceVersion):
                _ = try await client.update(lease(record, resourceVersion: resourceVersion), .leases, name: name, namespace: namespace)
                won(record)
            }
        } catch {
            let leads = machine.withLock { $0.failed(now: now()) }
            logger.debug("leader election round failed", metadata: ["error": "\(error)", "leads": "\(leads)"])
            publish(holder: leads ? identity : leadership.value.holder)
        }
    }

    private func won(_ record: LeaseRecord) {
        let wasLeader = leadership.value.isLeader
        machine.withLock { $0.wrote(record, now: now()) }
        if !wasLeader { logger.notice("became the leader", metadata: ["lease": "\(namespace)/\(name)", "identity": "\(identity)"]) }
        publish(holder: identity)
    }

    private func publish(holder: String?) {
        let leads = machine.withLock { $0.isLeader }
        if leadership.value.isLeader, !leads { logger.notice("stopped leading", metadata: ["holder": "\(holder ?? "")"]) }
        leadership.publishIfChanged(Leadership(isLeader: leads, holder: holder))
        metrics.leader(leads)
    }

    /// Gives the Lease up on shutdown, so that another replica need not wait out its duration.
    private func release() async {
        guard let record = machine.withLock({ $0.release(now: now()) }) else { return }
        do {
            let current = try await client.get(JSONValue.self, .leases, name: name, namespace: namespace)
            guard Self.record(current).holder == identity else { return }
            let version = current[path: "metadata", "resourceVersion"]?.stringValue
            _ = try await client.update(lease(record, resourceVersion: version), .leases, name: name, namespace: namespace)
            logger.notice("released the leader Lease", metadata: ["lease": "\(namespace)/\(name)"])
        } catch {
            logger.warning("could not release the leader Lease", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Lease objects

    static func record(_ lease: JSONValue) -> LeaseRecord {
        LeaseRecord(
            holder: lease[path: "spec", "holderIdentity"]?.stringValue ?? "",
            acquireTime: microTime(lease[path: "spec", "acquireTime"]?.stringValue) ?? .distantPast,
            renewTime: microTime(lease[path: "spec", "renewTime"]?.stringValue) ?? .distantPast,
            durationSeconds: Int(lease[path: "spec", "leaseDurationSeconds"]?.integerValue ?? 15),
            transitions: Int(lease[path: "spec", "leaseTransitions"]?.integerValue ?? 0))
    }

    func lease(_ record: LeaseRecord, resourceVersion: String?) -> JSONValue {
        var metadata: [String: JSONValue] = ["name": .string(name), "namespace": .string(namespace)]
        if let resourceVersion { metadata["resourceVersion"] = .string(resourceVersion) }
        return [
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": .object(metadata),
            "spec": [
                "holderIdentity": .string(record.holder), "leaseDurationSeconds": .integer(Int64(record.durationSeconds)),
                "acquireTime": .string(Self.microTime(record.acquireTime)), "renewTime": .string(Self.microTime(record.renewTime)),
                "leaseTransitions": .integer(Int64(record.transitions)),
            ],
        ]
    }

    /// metav1.MicroTime: RFC 3339 with microseconds, in UTC.
    static func microTime(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)).replacingOccurrences(of: "Z", with: "000Z")
    }

    static func microTime(_ text: String?) -> Date? {
        guard let text else { return nil }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        // Six fractional digits: keep milliseconds, which is all the decision needs.
        if let dot = text.firstIndex(of: "."), let zone = text.lastIndex(of: "Z"), text.distance(from: dot, to: zone) > 4 {
            let trimmed = String(text[..<text.index(dot, offsetBy: 4)]) + "Z"
            return try? Date(trimmed, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        }
        return try? Date(text, strategy: .iso8601)
    }
}
