/// A Kubernetes label selector in its string form: `app=web,tier!=db,env in (a,b),!legacy`.
public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    public enum Requirement: Sendable, Hashable {
        case equals(String, String)
        case notEquals(String, String)
        case `in`(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)

        func matches(_ labels: [String: String]) -> Bool {
            switch self {
            case .equals(let key, let value): labels[key] == value
            case .notEquals(let key, let value): labels[key] != value
            case .in(let key, let values): labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): labels[key].map { !values.contains($0) } ?? true
            case .exists(let key): labels[key] != nil
            case .doesNotExist(let key): labels[key] == nil
            }
        }
    }

    public var requirements: [Requirement]
    /// The selector as written.
    public let text: String

    /// Parses the string form; an empty string selects everything.
    public init(parsing text: String) throws(SelectorError) {
        self.text = text
        var result: [Requirement] = []
        for part in Self.splitTopLevel(text) {
            let term = part.trimmingSpaces()
            if term.isEmpty { continue }
            result.append(try Self.parseRequirement(term[...], in: text))
        }
        requirements = result
    }

    /// Reads the structured form (`matchLabels` and `matchExpressions`) used in API objects.
    public init(structured selector: JSONValue) throws(SelectorError) {
        var result: [Requirement] = []
        for (key, value) in (selector["matchLabels"]?.stringMap ?? [:]).sorted(by: { $0.key < $1.key }) {
            result.append(.equals(key, value))
        }
        for expression in selector["matchExpressions"]?.arrayValue ?? [] {
            guard let key = expression["key"]?.stringValue, let op = expression["operator"]?.stringValue else { throw .invalid("\(expression)") }
            let values = Set((expression["values"]?.arrayValue ?? []).compactMap(\.stringValue))
            switch op {
            case "In": result.append(.in(key, values))
            case "NotIn": result.append(.notIn(key, values))
            case "Exists": result.append(.exists(key))
            case "DoesNotExist": result.append(.doesNotExist(key))
            default: throw .invalid("unknown operator \(op)")
            }
        }
        requirements = result
        text = ""
    }

    /// Matches `labels` when every requirement holds.
    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    public var description: String { text }

    /// Splits on commas that are not inside parentheses.
    private static func splitTopLevel(_ text: String) -> [Substring] {
        var parts: [Substring] = []
        var depth = 0
        var start = text.startIndex
        for index in text.indices {
            switch text[index] {
            case "(": depth += 1
            case ")": depth -= 1
            case "," where depth == 0:
                parts.append(text[start..<index])
                start = text.index(after: index)
            default: break
            }
        }
        parts.append(text[start...])
        return parts
    }

    private static func parseRequirement(_ term: Substring, in text: String) throws(SelectorError) -> Requirement {
        if term.hasPrefix("!") {
            let key = String(term.dropFirst()).trimmingSpaces()
            try checkKey(key, text)
            return .doesNotExist(key)
        }
        if let range = term.range(of: "!=") {
            return .notEquals(try key(term[..<range.lowerBound], text), try value(term[range.upperBound...], text))
        }
        if let range = term.range(of: "==") ?? term.range(of: "=") {
            return .equals(try key(term[..<range.lowerBound], text), try value(term[range.upperBound...], text))
        }
        let words = term.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        if words.count == 2 {
            let rest = words[1].trimmingSpaces()
            for (keyword, isNot) in [("notin", true), ("in", false)] where rest.hasPrefix(keyword) {
                let list = rest.dropFirst(keyword.count).trimmingSpaces()
                guard list.hasPrefix("("), list.hasSuffix(")") else { throw .invalid(text) }
                var values: Set<String> = []
                for item in list.dropFirst().dropLast().split(separator: ",") { values.insert(try value(item, text)) }
                let name = try key(words[0], text)
                return isNot ? .notIn(name, values) : .in(name, values)
            }
            throw .invalid(text)
        }
        let name = String(term).trimmingSpaces()
        try checkKey(name, text)
        return .exists(name)
    }

    private static func key(_ text: Substring, _ whole: String) throws(SelectorError) -> String {
        let key = String(text).trimmingSpaces()
        try checkKey(key, whole)
        return key
    }

    private static func checkKey(_ key: String, _ whole: String) throws(SelectorError) {
        guard !key.isEmpty, !key.contains(" "), !key.contains("("), !key.contains(")") else { throw .invalid(whole) }
    }

    private static func value(_ text: Substring, _ whole: String) throws(SelectorError) -> String {
        let value = String(text).trimmingSpaces()
        guard !value.contains(" "), !value.contains("("), !value.contains(")"), !value.contains("=") else { throw .invalid(whole) }
        return value
    }
}

/// A field selector: `metadata.name=x,spec.nodeName!=`, matched against an object's JSON.
public struct FieldSelector: Sendable, Hashable, CustomStringConvertible {
    public struct Requirement: Sendable, Hashable {
        public var path: String
        public var value: String
        public var equal: Bool
    }

    public var requirements: [Requirement]
    public let text: String

    public init(parsing text: String) throws(SelectorError) {
        self.text = text
        var result: [Requirement] = []
        for part in text.split(separator: ",") {
            let term = String(part).trimmingSpaces()
            if term.isEmpty { continue }
            if let range = term.range(of: "!=") {
                result.append(
                    Requirement(
                        path: String(term[..<range.lowerBound]).trimmingSpaces(), value: String(term[range.upperBound...]).trimmingSpaces(),
                        equal: false))
            } else if let range = term.range(of: "==") ?? term.range(of: "=") {
                result.append(
                    Requirement(
                        path: String(term[..<range.lowerBound]).trimmingSpaces(), value: String(term[range.upperBound...]).trimmingSpaces(),
                        equal: true))
            } else {
                throw .invalid(text)
            }
        }
        requirements = result
    }

    /// Matches when each field, read from `object` (absent reads as empty), compares as required.
    public func matches(_ object: JSONValue) -> Bool {
        requirements.allSatisfy { requirement in
            let field = object.value(at: JSONPointer(tokens: requirement.path.split(separator: ".").map(String.init)))
            let actual = Self.text(of: field)
            return (actual == requirement.value) == requirement.equal
        }
    }

    private static func text(of value: JSONValue?) -> String {
        switch value {
        case .string(let text)?: text
        case .integer(let number)?: String(number)
        case .bool(let flag)?: String(flag)
        default: ""
        }
    }

    public var description: String { text }
}

/// A selector that could not be parsed.
public enum SelectorError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let text): "unable to parse requirement: \"\(text)\""
        }
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }

    func range(of target: String) -> Range<Index>? {
        guard !target.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) {
                return index..<self.index(index, offsetBy: target.count)
            }
            index = self.index(after: index)
        }
        return nil
    }
}
