import KubeModels

extension PlacementDecision {
    /// The decision and its per-cluster table, as `direktiv-dispatch explain` prints it.
    public func renderText() -> String {
        var lines: [String] = []
        lines.append("Decision: \(outcome.rawValue)\(cluster.map { " -> \($0)" } ?? "")")
        lines.append("Why: \(summary)")
        lines.append("Direktiv namespace: \(direktivNamespace ?? "(unknown)")")
        lines.append("Request: \(requestPerPod) per pod x \(replicas)")
        if let rule {
            lines.append("Rule: namespaces[\(rule.index)] match \(rule.match) clusters [\(rule.clusters.joined(separator: ", "))] strategy \(rule.strategy.rawValue) onNoFit \(rule.onNoFit)")
        } else {
            lines.append("Rule: none")
        }
        lines.append("Override: \(override.map(Self.describe) ?? "none")")
        for warning in warnings { lines.append("Warning: \(warning)") }
        lines.append("")
        var table = TextTable(headers: ["", "CLUSTER", "CANDIDATE", "ELIGIBLE", "FREE CPU", "FREE MEMORY", "CPU AFTER", "MEMORY AFTER", "SCORE", "REASONS"])
        for row in rowsByConsideration {
            table.append([
                row.isChosen ? "*" : "",
                row.cluster,
                row.isCandidate ? "yes" : "no",
                row.isEligible ? "yes" : "no",
                Self.cpu(row.freeBefore.milliCPU),
                Self.memory(row.freeBefore.memoryBytes),
                row.freeAfter.map { Self.cpu($0.milliCPU) } ?? "-",
                row.freeAfter.map { Self.memory($0.memoryBytes) } ?? "-",
                row.score.map { String(format2: $0) } ?? "-",
                row.reasons.joined(separator: "; "),
            ])
        }
        lines.append(table.render())
        return lines.joined(separator: "\n")
    }

    static func describe(_ override: NamespaceOverride) -> String {
        var parts: [String] = []
        if let pin = override.pin { parts.append("pin \(pin)") }
        if let prefer = override.prefer, !prefer.isEmpty { parts.append("prefer [\(prefer.joined(separator: ", "))]") }
        if let exclude = override.exclude, !exclude.isEmpty { parts.append("exclude [\(exclude.joined(separator: ", "))]") }
        return parts.joined(separator: ", ")
    }

    /// CPU cores with up to three decimals (`3.9`, `0.25`).
    public static func cpu(_ milli: Int64) -> String {
        milli % 1000 == 0 ? "\(milli / 1000)" : "\(milli)m"
    }

    /// Memory in the largest binary unit, two decimals (`7.50Gi`).
    public static func memory(_ bytes: Int64) -> String {
        let units: [(String, Double)] = [("Ti", 1_099_511_627_776), ("Gi", 1_073_741_824), ("Mi", 1_048_576), ("Ki", 1024)]
        for (suffix, size) in units where Double(bytes) >= size {
            return String(format2: Double(bytes) / size) + suffix
        }
        return "\(bytes)"
    }
}

extension String {
    /// A number with two decimals, without Foundation's locale-dependent formatting.
    init(format2 value: Double) {
        let scaled = (value * 100).rounded()
        let sign = scaled < 0 ? "-" : ""
        let magnitude = Int64(abs(scaled))
        let fraction = magnitude % 100
        self = "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
