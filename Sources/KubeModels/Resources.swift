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

    public static func + (lhs: Resources, rhs: Resources) -> Resources {
        Resources(milliCPU: lhs.milliCPU &+ rhs.milliCPU, memoryBytes: lhs.memoryBytes &+ rhs.memoryBytes)
    }

    public static func - (lhs: Resources, rhs: Resources) -> Resources {
        Resources(milliCPU: lhs.milliCPU &- rhs.milliCPU, memoryBytes: lhs.memoryBytes &- rhs.memoryBytes)
    }

    public static func * (lhs: Resources, factor: Int64) -> Resources {
        Resources(milliCPU: lhs.milliCPU &* factor, memoryBytes: lhs.memoryBytes &* factor)
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
