import DispatchCore
import Testing

/// "Current value, then every change": what the inventory, the function directory and the
/// overrides give the parts that follow them.
@Suite struct BroadcastTests {
    @Test func aFollowerGetsTheCurrentValueThenEveryChangeInOrder() async {
        let broadcast = Broadcast(0)
        broadcast.publish(1)
        let changes = broadcast.follow(buffering: .every)
        for value in 2...5 { broadcast.publish(value) }
        broadcast.finish()
        var seen: [Int] = []
        for await value in changes { seen.append(value) }
        #expect(seen == [1, 2, 3, 4, 5])
    }

    @Test func aSlowFollowerOfStateGetsOnlyTheNewest() async {
        let broadcast = Broadcast("a")
        let state = broadcast.follow(buffering: .newest)
        broadcast.publish("b")
        broadcast.publish("c")
        broadcast.finish()
        var seen: [String] = []
        for await value in state { seen.append(value) }
        #expect(seen == ["c"])
    }

    @Test func equalValuesAreNotPublishedTwice() async {
        let broadcast = Broadcast(false)
        let changes = broadcast.follow(buffering: .every)
        #expect(!broadcast.publishIfChanged(false))
        #expect(broadcast.publishIfChanged(true))
        #expect(!broadcast.publishIfChanged(true))
        broadcast.finish()
        var seen: [Bool] = []
        for await value in changes { seen.append(value) }
        #expect(seen == [false, true])
    }

    /// A part that starts following after its source stopped must not wait forever.
    @Test func followingAFinishedBroadcastEndsAfterTheCurrentValue() async {
        let broadcast = Broadcast(1)
        broadcast.finish()
        broadcast.publish(2)
        var seen: [Int] = []
        for await value in broadcast.follow() { seen.append(value) }
        #expect(seen == [2])
        #expect(broadcast.value == 2)
    }

    /// Cancelling a follower ends its stream without the publisher's help: a follower that kept
    /// waiting would hold its task, and the time limit fails the test instead of hanging the run.
    @Test(.timeLimit(.minutes(1))) func aCancelledFollowerStops() async {
        let broadcast = Broadcast(0)
        let (received, signal) = AsyncStream.makeStream(of: Void.self)
        let task = Task {
            var count = 0
            for await _ in broadcast.follow(buffering: .every) {
                count += 1
                signal.yield()
            }
            return count
        }
        var first = received.makeAsyncIterator()
        _ = await first.next()
        task.cancel()
        #expect(await task.value == 1, "the follower got the current value, then its stream ended")
        broadcast.publish(1)
    }
}
