import KubeModels
import Testing

@testable import KubeClient

@Suite struct InformerStateMachineTests {
    typealias Machine = InformerStateMachine<String>

    func item(_ key: String, _ version: String, _ value: String? = nil) -> Machine.Item {
        .init(key: key, resourceVersion: version, value: value ?? key)
    }

    func describe(_ events: [InformerEvent<String>]) -> [String] {
        events.map { event in
            switch event {
            case .initial: "initial"
            case .added(let key, _): "added \(key)"
            case .modified(let key, _, let new): "modified \(key) \(new)"
            case .deleted(let key, _): "deleted \(key)"
            case .synced: "synced"
            case .reconnected: "reconnected"
            case .connectionLost: "lost"
            }
        }
    }

    let backoff = Backoff(base: .milliseconds(100), cap: .seconds(1), random: { 1 })

    @Test func relistPublishesOnlyTheDifference() {
        var machine = Machine(backoff: backoff)
        let first = machine.listed([item("a", "1"), item("b", "2")], resourceVersion: "2")
        #expect(describe(first.events) == ["added a", "added b", "synced"])
        #expect(first.next == .watch(from: "2"))
        let second = machine.listed([item("b", "2"), item("c", "5", "new")], resourceVersion: "5")
        #expect(Set(describe(second.events)) == ["deleted a", "added c", "synced"])
        let third = machine.listed([item("b", "7", "changed"), item("c", "5", "new")], resourceVersion: "7")
        #expect(describe(third.events) == ["modified b changed", "synced"])
    }

    @Test func watchEventsMoveTheVersionAndSkipRepeats() {
        var machine = Machine(backoff: backoff)
        _ = machine.listed([item("a", "1")], resourceVersion: "1")
        guard case .publish(let events) = machine.received(.modified(item("a", "1"))) else {
            Issue.record("expected publish")
            return
        }
        #expect(events.isEmpty, "same version: nothing new")
        _ = machine.received(.added(item("b", "3")))
        _ = machine.received(.bookmark(resourceVersion: "9"))
        #expect(machine.resourceVersion == "9")
        guard case .publish(let deleted) = machine.received(.deleted(item("a", "10"))) else {
            Issue.record("expected publish")
            return
        }
        #expect(describe(deleted) == ["deleted a"])
        guard case .publish(let unknown) = machine.received(.deleted(item("zzz", "11"))) else {
            Issue.record("expected publish")
            return
        }
        #expect(unknown.isEmpty)
        #expect(machine.watchEnded() == .watch(from: "11"))
    }

    @Test func goneMeansListAgain() {
        var machine = Machine(backoff: backoff)
        _ = machine.listed([], resourceVersion: "1")
        guard case .end(let next, let events) = machine.received(.error(.failure(410, .expired, "too old"))) else {
            Issue.record("expected end")
            return
        }
        #expect(next == .list)
        #expect(events.isEmpty)
        #expect(machine.failed("x", gone: true).1 == .list)
    }

    @Test func failuresBackOffAndReportTheLossOnce() {
        var machine = Machine(backoff: backoff)
        let (beforeSync, firstNext) = machine.failed("refused")
        #expect(describe(beforeSync) == ["lost"])
        #expect(firstNext == .waitThenList(.milliseconds(100)))
        _ = machine.listed([item("a", "1")], resourceVersion: "4")
        let (lost, next) = machine.failed("reset")
        #expect(describe(lost) == ["lost"])
        #expect(next == .waitThenWatch(.milliseconds(100), from: "4"))
        let (again, later) = machine.failed("reset")
        #expect(again.isEmpty, "the loss is reported once")
        #expect(later == .waitThenWatch(.milliseconds(200), from: "4"))
        #expect(describe(machine.watchStarted()) == ["reconnected"])
        #expect(machine.watchStarted().isEmpty)
    }

    @Test func backoffIsCappedAndJittered() {
        let full = Backoff(base: .milliseconds(100), cap: .seconds(2), random: { 1 })
        #expect(full.delay(attempt: 0) == .milliseconds(100))
        #expect(full.delay(attempt: 3) == .milliseconds(800))
        #expect(full.delay(attempt: 10) == .seconds(2))
        #expect(full.delay(attempt: 1000) == .seconds(2))
        let none = Backoff(base: .milliseconds(100), cap: .seconds(2), random: { 0 })
        #expect(none.delay(attempt: 5) == .milliseconds(50), "never below half the base")
        let real = Backoff(base: .milliseconds(100), cap: .seconds(2))
        let delays = Set((0..<20).map { _ in real.delay(attempt: 4) })
        #expect(delays.count > 1, "jittered")
        #expect(delays.allSatisfy { $0 <= .milliseconds(1600) && $0 >= .milliseconds(50) })
    }
}
