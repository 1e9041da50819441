import DispatchCore

/// How a check came out.
public enum DoctorStatus: String, Sendable, Hashable, Codable, Comparable {
    case pass, warn, fail

    public static func < (lhs: DoctorStatus, rhs: DoctorStatus) -> Bool {
        let order: [DoctorStatus] = [.pass, .warn, .fail]
        return (order.firstIndex(of: lhs) ?? 0) < (order.firstIndex(of: rhs) ?? 0)
    }
}

/// One result of one check: what is wrong, why it matters, and the exact fix.
public struct DoctorFinding: Sendable, Hashable, Codable {
    /// The check's identifier, e.g. `offloading-functions`.
    public var check: String
    public var status: DoctorStatus
    /// What was found (for a pass, what was verified).
    public var detail: String
    /// Why it matters: what fails quietly when this is wrong. Empty for a pass.
    public var why: String
    /// A kubectl command or YAML snippet that fixes it. Empty for a pass.
    public var fix: String

    public init(check: String, status: DoctorStatus, detail: String, why: String = "", fix: String = "") {
        self.check = check
        self.status = status
        self.detail = detail
        self.why = why
        self.fix = fix
    }
}

/// Every finding of one run, in check order.
public struct DoctorReport: Sendable, Hashable, Codable {
    public var findings: [DoctorFinding]

    public init(findings: [DoctorFinding]) {
        self.findings = findings
    }

    private enum CodingKeys: String, CodingKey {
        case failed, summary, findings
    }

    public init(from decoder: any Decoder) throws {
        findings = try decoder.container(keyedBy: CodingKeys.self).decode([DoctorFinding].self, forKey: .findings)
    }

    /// `{"failed": bool, "summary": "...", "findings": [...]}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(hasFailures, forKey: .failed)
        try container.encode(summary, forKey: .summary)
        try container.encode(findings, forKey: .findings)
    }

    /// Whether any check failed: `doctor` exits 1.
    public var hasFailures: Bool { findings.contains { $0.status == .fail } }

    /// `3 pass, 1 warn, 0 fail`.
    public var summary: String {
        let counts = [DoctorStatus.pass, .warn, .fail].map { status in "\(findings.filter { $0.status == status }.count) \(status.rawValue)" }
        return counts.joined(separator: ", ")
    }

    /// The table: check, status, what is wrong; then, for each warning and failure, why it
    /// matters and the fix, in full (fixes are commands to copy, not cells to truncate).
    public func render() -> String {
        var table = TextTable(headers: ["CHECK", "STATUS", "DETAIL"])
        for finding in findings { table.append([finding.check, finding.status.rawValue, finding.detail]) }
        var text = table.render() + "\n"
        for finding in findings where finding.status != .pass {
            text += "\n\(finding.status.rawValue) \(finding.check): \(finding.detail)\n"
            if !finding.why.isEmpty { text += "  why: \(finding.why)\n" }
            if !finding.fix.isEmpty {
                text +=
                    "  fix:\n" + finding.fix.split(separator: "\n", omittingEmptySubsequences: false).map { "    \($0)" }.joined(separator: "\n")
                    + "\n"
            }
        }
        return text + "\n\(summary)\n"
    }
}
