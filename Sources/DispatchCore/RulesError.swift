/// One problem found in a rules file, located by line, column and key path.
public struct RulesIssue: Sendable, Hashable, CustomStringConvertible, Codable {
    /// 1-based line, or 0 when the position is unknown.
    public var line: Int
    /// 1-based column, or 0 when the position is unknown.
    public var column: Int
    /// The key path, such as `namespaces[1].onNoFit.fallback`; empty for the document itself.
    public var path: String
    public var message: String

    public init(line: Int, column: Int, path: String, message: String) {
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    public var description: String {
        let location = line > 0 ? "\(line):\(column)" : "-"
        return path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
    }
}

/// Every problem found in a rules file; the file is refused as a whole.
public struct RulesError: Error, Sendable, Hashable, CustomStringConvertible {
    public var issues: [RulesIssue]

    public init(issues: [RulesIssue]) {
        self.issues = issues
    }

    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }
}
