/// Quantities as tables for people print them: one unit per column and one decimal, so that
/// `24.4Gi` stands beside `4.8Gi` instead of `25627612Ki` beside `4864Mi`.
public enum QuantityForPeople {
    /// A binary memory unit.
    public struct MemoryUnit: Sendable, Hashable {
        public var suffix: String
        public var bytes: Int64

        public static let bytes = MemoryUnit(suffix: "", bytes: 1)
        public static let kibibytes = MemoryUnit(suffix: "Ki", bytes: 1 << 10)
        public static let mebibytes = MemoryUnit(suffix: "Mi", bytes: 1 << 20)
        public static let gibibytes = MemoryUnit(suffix: "Gi", bytes: 1 << 30)
        public static let tebibytes = MemoryUnit(suffix: "Ti", bytes: 1 << 40)
    }

    /// The largest unit in which the largest of `values` is at least 1: the unit of a column.
    public static func memoryUnit(for values: some Sequence<Int64>) -> MemoryUnit {
        let largest = values.map { $0.magnitude }.max() ?? 0
        for unit in [MemoryUnit.tebibytes, .gibibytes, .mebibytes, .kibibytes] where largest >= UInt64(unit.bytes) {
            return unit
        }
        return .bytes
    }

    /// `bytes` in `unit` with one decimal (`4.8Gi`); plain bytes stay whole.
    public static func memory(_ bytes: Int64, in unit: MemoryUnit) -> String {
        unit == .bytes ? "\(bytes)" : oneDecimal(Double(bytes) / Double(unit.bytes)) + unit.suffix
    }

    /// Milli-cores as cores with one decimal (`3.9`, `0.5`).
    public static func cpu(_ milli: Int64) -> String {
        oneDecimal(Double(milli) / 1000)
    }

    /// One decimal, rounded half away from zero, without Foundation's locale-dependent formatting.
    static func oneDecimal(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        // Int64 quantities divided by a unit stay far below 2^62 tenths; guard anyway, since
        // converting a larger Double to Int64 traps.
        guard tenths.isFinite, tenths.magnitude < 9.0e18 else { return value < 0 ? "-inf" : "inf" }
        let whole = Int64(tenths)
        let sign = whole < 0 ? "-" : ""
        return "\(sign)\(whole.magnitude / 10).\(whole.magnitude % 10)"
    }
}
