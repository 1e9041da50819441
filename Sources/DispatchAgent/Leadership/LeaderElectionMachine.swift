import Foundation

/// What a `coordination.k8s.io/v1` Lease says about leadership.
public struct LeaseRecord: Sendable, Hashable {
    public var holder: String
    public var acquireTime: Date
    public var renewTime: Date
    public var durationSeconds: Int
    public var transitions: Int

    public init(holder: String, acquireTime: Date, renewTime: Date, durationSeconds: Int, transitions: Int) {
        self.holder = holder
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.durationSeconds = durationSeconds
        self.transitions = transitions
    }
}

/// Leader election as client-go's `leaderelection` package runs it, as plain values: each round
/// the elector reads the Lease and is told what to write.
///
/// - No Lease: create one naming this replica.
/// - Held by another replica: wait until `leaseDuration` has passed since this replica *saw*
///   the record change (its own clock, never the holder's `renewTime`, so skewed clocks do not
///   matter), then take it over (`leaseTransitions` + 1).
/// - Held by this replica: renew (`renewTime` now). A leader that has not renewed for
///   `renewDeadline` steps down, before another replica can take the Lease over.
/// - Every write is conditional on the read's resourceVersion, so two replicas racing for an
///   expired Lease cannot both win.
public struct LeaderElectionMachine: Sendable {
    public struct Timings: Sendable, Hashable {
        public var leaseDuration: TimeInterval
        public var renewDeadline: TimeInterval
        public var retryPeriod: TimeInterval

        /// client-go's defaults, which the chart uses.
        public static let clientGo = Timings(leaseDuration: 15, renewDeadline: 10, retryPeriod: 2)

        public init(leaseDuration: TimeInterval, renewDeadline: TimeInterval, retryPeriod: TimeInterval) {
            self.leaseDuration = leaseDuration
            self.renewDeadline = renewDeadline
            self.retryPeriod = retryPeriod
        }
    }

    public enum Action: Sendable, Hashable {
        /// No Lease yet: create this one.
        case create(LeaseRecord)
        /// Write this record over the Lease read at `resourceVersion`.
        case update(LeaseRecord, resourceVersion: String)
        /// Another replica holds a live Lease.
        case wait(holder: String)
    }

    public let identity: String
    public let timings: Timings
    /// The last record read, and when this replica first saw it (its own clock).
    private(set) var observed: LeaseRecord?
    private(set) var observedAt: Date?
    /// When this replica last wrote the Lease as holder.
    private(set) var renewedAt: Date?
    public private(set) var isLeader = false

    public init(identity: String, timings: Timings = .clientGo) {
        self.identity = identity
        self.timings = timings
    }

    /// A round: the Lease as read (nil when there is none) and what to do about it.
    public mutating func read(_ record: LeaseRecord?, resourceVersion: String?, now: Date) -> Action {
        guard let record, let resourceVersion else {
            return .create(LeaseRecord(holder: identity, acquireTime: now, renewTime: now, durationSeconds: durationSeconds, transitions: 0))
        }
        if record != observed {
            observed = record
            observedAt = now
        }
        let heldByOther = !record.holder.isEmpty && record.holder != identity
        if heldByOther, let observedAt, observedAt.addingTimeInterval(TimeInterval(record.durationSeconds)) > now {
            if isLeader { isLeader = false }
            return .wait(holder: record.holder)
        }
        let ours = record.holder == identity
        return .update(
            LeaseRecord(
                holder: identity, acquireTime: ours ? record.acquireTime : now, renewTime: now, durationSeconds: durationSeconds,
                transitions: ours ? record.transitions : record.transitions + 1),
            resourceVersion: resourceVersion)
    }

    /// The write of `record` succeeded: this replica leads until `renewDeadline` passes without
    /// another success.
    public mutating func wrote(_ record: LeaseRecord, now: Date) {
        observed = record
        observedAt = now
        renewedAt = now
        isLeader = true
    }

    /// A round failed (the read, or a write lost a race): a leader steps down once its last
    /// renewal is older than `renewDeadline`. Returns whether it leads.
    @discardableResult
    public mutating func failed(now: Date) -> Bool {
        if isLeader, let renewedAt, now.timeIntervalSince(renewedAt) >= timings.renewDeadline { isLeader = false }
        return isLeader
    }

    /// Stepping down on shutdown: the record that releases the Lease at once (client-go's
    /// `ReleaseOnCancel`), when this replica holds it.
    public mutating func release(now: Date) -> LeaseRecord? {
        guard isLeader, let observed, observed.holder == identity else { return nil }
        isLeader = false
        return LeaseRecord(holder: "", acquireTime: now, renewTime: now, durationSeconds: 1, transitions: observed.transitions)
    }

    private var durationSeconds: Int { max(1, Int(timings.leaseDuration.rounded(.up))) }
}
