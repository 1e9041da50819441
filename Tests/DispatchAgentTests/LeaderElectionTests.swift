import DispatchAgent
import DispatchCore
import Foundation
import KubeClient
import KubeModels
import KubeSim
import Logging
import ServiceLifecycle
import TestSupport
import Testing

/// client-go's leader election rules, with plain values.
struct LeaderElectionMachineTests {
    let start = Date(timeIntervalSince1970: 1_000_000)
    let timings = LeaderElectionMachine.Timings.clientGo

    func record(_ holder: String, renewed: Date, transitions: Int = 0) -> LeaseRecord {
        LeaseRecord(holder: holder, acquireTime: renewed, renewTime: renewed, durationSeconds: 15, transitions: transitions)
    }

    @Test func noLeaseIsCreatedNamingThisReplica() {
        var machine = LeaderElectionMachine(identity: "a")
        let result1 = machine.read(nil, resourceVersion: nil, now: start)
        #expect(result1 == .create(record("a", renewed: start)))
        #expect(!machine.isLeader, "leading starts with a successful write")
    }

    /// Expiry counts from when this replica saw the record change, on its own clock: a holder
    /// whose clock runs an hour ahead does not keep the Lease forever, and one behind does not
    /// lose it early.
    @Test func anotherHoldersLeaseIsTakenOverOnlyAfterItsDurationAsSeenHere() {
        var machine = LeaderElectionMachine(identity: "b")
        let skewed = record("a", renewed: start.addingTimeInterval(3600))
        let result2 = machine.read(skewed, resourceVersion: "5", now: start)
        #expect(result2 == .wait(holder: "a"))
        let result3 = machine.read(skewed, resourceVersion: "5", now: start.addingTimeInterval(14))
        #expect(result3 == .wait(holder: "a"))
        let takeover = machine.read(skewed, resourceVersion: "5", now: start.addingTimeInterval(15))
        #expect(
            takeover
                == .update(
                    LeaseRecord(
                        holder: "b", acquireTime: start.addingTimeInterval(15), renewTime: start.addingTimeInterval(15), durationSeconds: 15,
                        transitions: 1), resourceVersion: "5"))
        // A renewal by the holder (a changed record) restarts the wait.
        var other = LeaderElectionMachine(identity: "b")
        _ = other.read(record("a", renewed: start), resourceVersion: "5", now: start)
        let result4 = other.read(record("a", renewed: start.addingTimeInterval(10)), resourceVersion: "6", now: start.addingTimeInterval(14))
        #expect(result4 == .wait(holder: "a"))
        let result5 = other.read(record("a", renewed: start.addingTimeInterval(10)), resourceVersion: "6", now: start.addingTimeInterval(28))
        #expect(result5 == .wait(holder: "a"))
        let result6 = other.read(record("a", renewed: start.addingTimeInterval(10)), resourceVersion: "6", now: start.addingTimeInterval(29))
        #expect(result6 != .wait(holder: "a"))
    }

    @Test func theLeaderRenewsKeepingItsAcquireTimeAndStepsDownAfterTheRenewDeadline() {
        var machine = LeaderElectionMachine(identity: "a")
        let first = record("a", renewed: start)
        machine.wrote(first, now: start)
        #expect(machine.isLeader)
        let renewal = machine.read(first, resourceVersion: "7", now: start.addingTimeInterval(2))
        #expect(
            renewal
                == .update(
                    LeaseRecord(holder: "a", acquireTime: start, renewTime: start.addingTimeInterval(2), durationSeconds: 15, transitions: 0),
                    resourceVersion: "7"))
        let result7 = machine.failed(now: start.addingTimeInterval(9))
        #expect(result7, "still within the renew deadline")
        let stillLeads = machine.failed(now: start.addingTimeInterval(10))
        #expect(!stillLeads, "10 s without renewing: step down, 5 s before anyone may take over")
    }

    @Test func aReleasedLeaseIsTakenAtOnceAndOnlyTheHolderReleases() {
        var machine = LeaderElectionMachine(identity: "b")
        let released = LeaseRecord(holder: "", acquireTime: start, renewTime: start, durationSeconds: 1, transitions: 3)
        guard case .update(let taken, _) = machine.read(released, resourceVersion: "9", now: start) else {
            Issue.record("a released Lease is not taken")
            return
        }
        #expect(taken.holder == "b" && taken.transitions == 4)
        let result8 = machine.release(now: start)
        #expect(result8 == nil, "not the leader yet")
        machine.wrote(taken, now: start)
        let result9 = machine.release(now: start)
        #expect(result9?.holder == "")
    }
}

/// Two electors against one KubeSim, with short timings: one leads, the other follows, and the
/// Lease changes hands when the leader goes away.
@Suite(.serialized) struct LeaderElectorTests {
    let timings = LeaderElectionMachine.Timings(leaseDuration: 1, renewDeadline: 0.6, retryPeriod: 0.1)

    @Test func oneReplicaLeadsAndTheOtherTakesOverWhenItIsGone() async throws {
        try await withSim { harness, client in
            let first = LeaderElector(
                client: client, namespace: "direktiv-dispatch", identity: "replica-a", timings: timings, logger: Logger(label: "a"))
            let second = LeaderElector(
                client: client, namespace: "direktiv-dispatch", identity: "replica-b", timings: timings, logger: Logger(label: "b"))
            let firstUpdates = first.leadership.follow()
            let firstTask = Task { try await first.run() }
            _ = try await next(firstUpdates) { $0.isLeader }
            let secondUpdates = second.leadership.follow()
            let secondTask = Task { try await second.run() }
            defer { secondTask.cancel() }
            let following = try await next(secondUpdates) { $0.holder == "replica-a" }
            #expect(!following.isLeader)

            // The leader stops without releasing (a killed pod): the other waits out the lease.
            firstTask.cancel()
            _ = try? await firstTask.value
            let taken = try await next(secondUpdates) { $0.isLeader }
            #expect(taken.holder == "replica-b")
            let lease = try await client.get(JSONValue.self, .leases, name: LeaderElector.defaultLeaseName, namespace: "direktiv-dispatch")
            #expect(lease[path: "spec", "holderIdentity"] == "replica-b")
            #expect(lease[path: "spec", "leaseTransitions"] == 1)
            #expect(lease[path: "spec", "renewTime"]?.stringValue?.hasSuffix("000Z") == true, "MicroTime, microseconds")
            _ = harness
        }
    }

    /// A graceful shutdown releases the Lease: the next replica takes it at its next round,
    /// without waiting out the duration.
    @Test func aGracefulShutdownHandsTheLeaseOverAtOnce() async throws {
        try await withSim { _, client in
            let long = LeaderElectionMachine.Timings(leaseDuration: 30, renewDeadline: 20, retryPeriod: 0.1)
            let first = LeaderElector(
                client: client, namespace: "direktiv-dispatch", identity: "replica-a", timings: long, logger: Logger(label: "a"))
            let second = LeaderElector(
                client: client, namespace: "direktiv-dispatch", identity: "replica-b", timings: long, logger: Logger(label: "b"))
            let group = ServiceGroup(configuration: .init(services: [first], logger: Logger(label: "group")))
            let firstUpdates = first.leadership.follow()
            let running = Task { try await group.run() }
            _ = try await next(firstUpdates) { $0.isLeader }
            let secondUpdates = second.leadership.follow()
            let secondTask = Task { try await second.run() }
            defer { secondTask.cancel() }
            _ = try await next(secondUpdates) { $0.holder == "replica-a" }
            await group.triggerGracefulShutdown()
            try await running.value
            // Well within the 30 s lease: only a release makes this possible.
            let taken = try await next(secondUpdates, within: .seconds(10)) { $0.isLeader }
            #expect(taken.holder == "replica-b")
        }
    }
}
