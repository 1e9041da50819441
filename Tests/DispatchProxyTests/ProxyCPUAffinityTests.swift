import NIOCore
import NIOPosix
import Testing

@testable import DispatchProxy

/// When the proxy's event loops are pinned to CPUs, and that pinned loops run where planned.
@Suite struct ProxyCPUAffinityTests {
    @Test func autoPinsOneLoopPerCPUOnlyWhenTheProcessOwnsAsManyCPUsAsLoops() {
        #expect(ProxyCPUAffinity.auto.pinnedCPUs(loops: 2, allowedCPUs: [0, 1]) == [0, 1])
        // A cpuset elsewhere on the machine, listed in any order.
        #expect(ProxyCPUAffinity.auto.pinnedCPUs(loops: 3, allowedCPUs: [9, 4, 5]) == [4, 5, 9])
        // A CPU quota on a larger node: any CPU may run the process, the kernel places the loops.
        #expect(ProxyCPUAffinity.auto.pinnedCPUs(loops: 2, allowedCPUs: Array(0..<16)) == nil)
        // More loops than CPUs: two loops would share a CPU whatever the kernel does.
        #expect(ProxyCPUAffinity.auto.pinnedCPUs(loops: 3, allowedCPUs: [0, 1]) == nil)
        // One loop has nothing to be kept apart from.
        #expect(ProxyCPUAffinity.auto.pinnedCPUs(loops: 1, allowedCPUs: [3]) == nil)
        #expect(ProxyCPUAffinity.auto.pinnedCPUs(loops: 2, allowedCPUs: nil) == nil)
        #expect(ProxyCPUAffinity.off.pinnedCPUs(loops: 2, allowedCPUs: [0, 1]) == nil)
    }

    #if os(Linux)
    /// The CPUs each loop of a proxy group may run on, asked on the loop itself.
    func loopCPUs(threads: Int, _ affinity: ProxyCPUAffinity) async throws -> (pinned: [Int]?, loops: [[Int]?]) {
        let (group, pinned) = ProxyServer.makeEventLoopGroup(threads: threads, cpuAffinity: affinity)
        var loops: [[Int]?] = []
        for loop in group.makeIterator() {
            loops.append(try await loop.submit { ProxyCPUAffinity.allowedCPUs() }.get())
        }
        try await group.shutdownGracefully()
        return (pinned, loops)
    }

    @Test func pinnedLoopsRunOnlyOnTheirOwnCPU() async throws {
        let allowed = try #require(ProxyCPUAffinity.allowedCPUs())
        let (pinned, loops) = try await loopCPUs(threads: allowed.count, .auto)
        #expect(loops.count == allowed.count)
        guard allowed.count > 1 else {
            #expect(pinned == nil)
            return
        }
        #expect(pinned == allowed.sorted())
        #expect(loops.compactMap { $0 }.sorted { $0[0] < $1[0] } == allowed.sorted().map { [$0] })
    }

    @Test func unpinnedLoopsMayRunOnEveryAllowedCPU() async throws {
        let allowed = try #require(ProxyCPUAffinity.allowedCPUs())
        let (pinned, loops) = try await loopCPUs(threads: allowed.count, .off)
        #expect(pinned == nil)
        #expect(loops == Array(repeating: allowed, count: allowed.count))
    }
    #endif
}
