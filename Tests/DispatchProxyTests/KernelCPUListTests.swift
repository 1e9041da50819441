import NIOCore
import NIOPosix
import Testing

@testable import DispatchProxy

@Suite struct KernelCPUListTests {
    @Test func listsAndRangesAreRead() {
        #expect(ProxyCPUAffinity.cpus(inList: "0-1") == [0, 1])
        #expect(ProxyCPUAffinity.cpus(inList: "\t0,2-4,7\n") == [0, 2, 3, 4, 7])
        #expect(ProxyCPUAffinity.cpus(inList: "5") == [5])
    }

    @Test(arguments: ["", "a", "3-1", "1-2-3", "-1", "1,,x"])
    func whatIsNotACPUListIsNil(list: String) {
        #expect(ProxyCPUAffinity.cpus(inList: Substring(list)) == nil)
    }
}
