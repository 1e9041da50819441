import DispatchAgent
import DispatchCore
import DispatchMetrics
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import DispatchPrometheus
@testable import DispatchProxy

@Suite struct InvocationClockTests {
    let start = ContinuousClock.now

    @Test func idleTimeoutAppliesOnlyWhileBytesAreExpected() {
        var clock = InvocationClock(start: start, deadline: start + .seconds(300), idleTimeout: .seconds(10))
        #expect(clock.expired(at: start + .seconds(9)) == nil)
        #expect(clock.expired(at: start + .seconds(11)) == .idleTimeout)
        clock.activity(at: start + .seconds(5), phase: .awaitingHead)
        // The function works for minutes: only the deadline bounds that.
        #expect(clock.expired(at: start + .seconds(200)) == nil)
        #expect(clock.nextCheck() == start + .seconds(300))
        clock.activity(at: start + .seconds(200), phase: .receivingBody)
        #expect(clock.nextCheck() == start + .seconds(210))
        #expect(clock.expired(at: start + .seconds(211)) == .idleTimeout)
        #expect(clock.expired(at: start + .seconds(301)) == .deadline)
        clock.activity(at: start + .seconds(205), phase: .finished)
        #expect(clock.expired(at: start + .seconds(400)) == nil)
    }

    @Test func deadlineWinsOverALongIdleTimeout() {
        let clock = InvocationClock(start: start, deadline: start + .seconds(1), idleTimeout: .seconds(60))
        #expect(clock.nextCheck() == start + .seconds(1))
        #expect(clock.expired(at: start + .seconds(2)) == .deadline)
    }
}
