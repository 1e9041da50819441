import DispatchCore
import Testing

/// Tables for people print one unit per column with one decimal.
@Suite struct QuantityForPeopleTests {
    /// The demo's cluster table printed `25627612Ki` beside `4864Mi`.
    @Test func aColumnSharesTheUnitOfItsLargestValue() {
        let free: [Int64] = [25_627_612 * 1024, 4864 * 1024 * 1024]
        let unit = QuantityForPeople.memoryUnit(for: free)
        #expect(unit == .gibibytes)
        #expect(free.map { QuantityForPeople.memory($0, in: unit) } == ["24.4Gi", "4.8Gi"])
        #expect(QuantityForPeople.memory(512 * 1024 * 1024, in: unit) == "0.5Gi")
        #expect(QuantityForPeople.memoryUnit(for: [300 * 1024 * 1024, 0]) == .mebibytes)
        #expect(QuantityForPeople.memoryUnit(for: [100]) == .bytes)
        #expect(QuantityForPeople.memory(100, in: .bytes) == "100")
        #expect(QuantityForPeople.memoryUnit(for: []) == .bytes)
    }

    @Test func negativeAndExtremeValuesPrintWithoutTrapping() {
        #expect(QuantityForPeople.memory(-(3 << 29), in: .gibibytes) == "-1.5Gi")
        #expect(QuantityForPeople.memoryUnit(for: [.min, .max]) == .tebibytes)
        #expect(QuantityForPeople.memory(.max, in: .tebibytes) == "8388608.0Ti")
        #expect(QuantityForPeople.memory(.min, in: .bytes) == "\(Int64.min)")
        #expect(QuantityForPeople.cpu(3900) == "3.9")
        #expect(QuantityForPeople.cpu(250) == "0.3")
        #expect(QuantityForPeople.cpu(-1500) == "-1.5")
        // Double keeps 53 bits: the last digits round, but nothing traps.
        #expect(QuantityForPeople.cpu(.max) == "9223372036854776.0")
    }
}
