/// An amount of CPU and memory, in integer milli-cores and bytes.
public struct Resources: Sendable, Hashable, Codable {
    public var milliCPU: Int64
    public var memoryBytes: Int64

    public init(milliCPU: Int64, memoryBytes: Int64) {
        self.milliCPU = milliCPU
        self.memoryBytes = memoryBytes
    }

    public static let zero = Resources(milliCPU: 0, memoryBytes: 0)

    /// Reads `cpu` and `memory` from a Kubernetes resource list; other resources are ignored.
    public init(_ list: [String: Quantity]?) throws(QuantityError) {
        self.milliCPU = try list?["cpu"]?.milliValue() ?? 0
        self.memoryBytes = try list?["memory"]?.value() ?? 0
    }

    /// Whether both amounts are at least those of `other`.
    public func covers(_ other: Resources) -> Bool {
        milliCPU >= other.milliCPU && memoryBytes >= other.memoryBytes
    }

    public var isZero: Bool { milliCPU == 0 && memoryBytes == 0 }

    /// The larger of each amount.
    public func componentMax(_ other: Resources) -> Resources {
        Resources(milliCPU: max(milliCPU, other.milliCPU), memoryBytes: max(memoryBytes, other.memoryBytes))
    }

    // Saturating: amounts come from objects anyone with create rights writes, and a sum that
    // wrapped around would turn a full cluster into an empty one.
    public static func + (lhs: Resources, rhs: Resources) -> Resources {
        Resources(
            milliCPU: saturating(lhs.milliCPU.addingReportingOverflow(rhs.milliCPU), lhs.milliCPU),
            memoryBytes: saturating(lhs.memoryBytes.addingReportingOverflow(rhs.memoryBytes), lhs.memoryBytes))
    }

    public static func - (lhs: Resources, rhs: Resources) -> Resources {
        Resources(
            milliCPU: saturating(lhs.milliCPU.subtractingReportingOverflow(rhs.milliCPU), lhs.milliCPU),
            memoryBytes: saturating(lhs.memoryBytes.subtractingReportingOverflow(rhs.memoryBytes), lhs.memoryBytes))
    }

    public static func * (lhs: Resources, factor: Int64) -> Resources {
        func times(_ amount: Int64) -> Int64 {
            let (product, overflow) = amount.multipliedReportingOverflow(by: factor)
            return overflow ? ((amount < 0) != (factor < 0) ? .min : .max) : product
        }
        return Resources(milliCPU: times(lhs.milliCPU), memoryBytes: times(lhs.memoryBytes))
    }

    /// The result of `lhs + x` or `lhs - x`, or the bound it ran past: a sum or difference
    /// overflows only beyond the bound on the side of `lhs`'s sign.
    private static func saturating(_ result: (partialValue: Int64, overflow: Bool), _ lhs: Int64) -> Int64 {
        guard result.overflow else { return result.partialValue }
        return lhs < 0 ? .min : .max
    }

    public static func += (lhs: inout Resources, rhs: Resources) { lhs = lhs + rhs }
    public static func -= (lhs: inout Resources, rhs: Resources) { lhs = lhs - rhs }
}

extension Resources: CustomStringConvertible {
    /// `cpu=500m memory=1Gi` in the units Kubernetes users read.
    public var description: String {
        "cpu=\(Self.formatCPU(milliCPU)) memory=\(Self.formatMemory(memoryBytes))"
    }

    /// Milli-cores in the shortest exact Kubernetes form (`500m`, `2`).
    public static func formatCPU(_ milli: Int64) -> String {
        milli % 1000 == 0 ? "\(milli / 1000)" : "\(milli)m"
    }

    /// Bytes in the shortest exact Kubernetes form (`512Mi`, `64M`), else plain bytes.
    public static func formatMemory(_ bytes: Int64) -> String {
        if bytes == 0 { return "0" }
        var candidates = ["\(bytes)"]
        for (suffix, shift) in [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)]
        where bytes % (Int64(1) << shift) == 0 {
            candidates.append("\(bytes >> shift)\(suffix)")
            break
        }
        for (suffix, factor) in [("T", Int64(1_000_000_000_000)), ("G", 1_000_000_000), ("M", 1_000_000), ("k", 1000)]
        where bytes % factor == 0 {
            candidates.append("\(bytes / factor)\(suffix)")
            break
        }
        return candidates.min { $0.count < $1.count } ?? "\(bytes)"
    }
}
