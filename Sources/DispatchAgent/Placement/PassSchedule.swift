import Foundation

/// When the leader's next placement pass runs: every `interval`, and sooner when a cluster turns
/// schedulable or unschedulable (its clocks start then, not up to an interval later) or when a
/// failover clock the last pass saw reaches `afterSeconds` (the move is made then, not at the
/// next regular pass). Without it a move waited up to two intervals beyond `afterSeconds`.
struct PassSchedule: Sendable, Equatable {
    /// The regular period.
    var interval: TimeInterval
    private(set) var lastPass: Date?
    /// The schedulable clusters the last pass saw.
    private(set) var schedulable: Set<String>?
    /// When the earliest failover or failback clock is due, as the last pass computed it.
    private(set) var nextDue: Date?

    init(interval: TimeInterval) {
        self.interval = interval
    }

    /// Whether a pass should run at `now`, with `schedulable` the clusters that can take pods now.
    func isDue(now: Date, schedulable current: Set<String>) -> Bool {
        guard let lastPass else { return true }
        if now.timeIntervalSince(lastPass) >= interval { return true }
        if let schedulable, schedulable != current { return true }
        if let nextDue, now >= nextDue { return true }
        return false
    }

    /// Records a pass that ran at `date` and saw `schedulable`; `nextDue` is the earliest
    /// failover clock it left running.
    mutating func passed(at date: Date, schedulable: Set<String>, nextDue: Date?) {
        lastPass = date
        self.schedulable = schedulable
        self.nextDue = nextDue
    }
}
