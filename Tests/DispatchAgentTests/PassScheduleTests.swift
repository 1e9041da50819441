import Foundation
import Testing

@testable import DispatchAgent

/// When the leader's placement pass runs: plain values, no clock.
struct PassScheduleTests {
    let start = Date(timeIntervalSince1970: 1_000_000)

    @Test func theFirstPassRunsAtOnceThenEveryInterval() {
        var schedule = PassSchedule(interval: 5)
        #expect(schedule.isDue(now: start, schedulable: ["main"]))
        schedule.passed(at: start, schedulable: ["main"], nextDue: nil)
        #expect(!schedule.isDue(now: start.addingTimeInterval(4.9), schedulable: ["main"]))
        #expect(schedule.isDue(now: start.addingTimeInterval(5), schedulable: ["main"]))
    }

    @Test func aClusterTurningUnschedulableOrBackStartsAPassAtOnce() {
        var schedule = PassSchedule(interval: 5)
        schedule.passed(at: start, schedulable: ["main", "external2"], nextDue: nil)
        #expect(schedule.isDue(now: start.addingTimeInterval(0.3), schedulable: ["main"]), "external2 lost")
        schedule.passed(at: start.addingTimeInterval(0.3), schedulable: ["main"], nextDue: nil)
        #expect(!schedule.isDue(now: start.addingTimeInterval(0.6), schedulable: ["main"]))
        #expect(schedule.isDue(now: start.addingTimeInterval(0.9), schedulable: ["main", "external2"]), "external2 back")
    }

    @Test func aFailoverClockFallingDueStartsAPassThen() {
        var schedule = PassSchedule(interval: 5)
        schedule.passed(at: start, schedulable: ["main"], nextDue: start.addingTimeInterval(2))
        #expect(!schedule.isDue(now: start.addingTimeInterval(1.9), schedulable: ["main"]))
        #expect(schedule.isDue(now: start.addingTimeInterval(2), schedulable: ["main"]))
    }
}
