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
            lines.append(
                "Rule: namespaces[\(rule.index)] match \(rule.match) clusters [\(rule.clusters.joined(separator: ", "))] strategy \(rule.strategy.rawValue) onNoFit \(rule.onNoFit)"
            )
        } else {
            lines.append("Rule: none")
        }
        lines.append("Override: \(override.map(Self.describe) ?? "none")")
        for warning in warnings { lines.append("Warning: \(warning)") }
        lines.append("")
        // The latency column only where latencies are known (every decision of an agent; files hold none).
        let showsLatency = rows.contains { $0.latency != nil }
        var table = TextTable(
            headers: ["", "CLUSTER", "CANDIDATE", "ELIGIBLE", "FREE CPU", "FREE MEMORY", "CPU AFTER", "MEMORY AFTER", "SCORE"]
                + (showsLatency ? ["LATENCY"] : []) + ["REASONS"])
        // Both memory columns in one unit, so that their numbers compare at a glance.
        let memoryUnit = QuantityForPeople.memoryUnit(
            for: rows.flatMap { [$0.freeBefore.memoryBytes] + ($0.freeAfter.map { [$0.memoryBytes] } ?? []) })
        for row in rowsByConsideration {
            var cells: [String] = [
                row.isChosen ? "*" : "",
                row.cluster,
                row.isCandidate ? "yes" : "no",
                row.isEligible ? "yes" : "no",
                QuantityForPeople.cpu(row.freeBefore.milliCPU),
                QuantityForPeople.memory(row.freeBefore.memoryBytes, in: memoryUnit),
                row.freeAfter.map { QuantityForPeople.cpu($0.milliCPU) } ?? "-",
                row.freeAfter.map { QuantityForPeople.memory($0.memoryBytes, in: memoryUnit) } ?? "-",
                row.score.map { String(format2: $0) } ?? "-",
            ]
            if showsLatency { cells.append(row.latency?.text ?? "unknown") }
            cells.append(row.reasons.joined(separator: "; "))
            table.append(cells)
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
