import Foundation
import KubeModels

/// The JSONPath of an `additionalPrinterColumns` entry: `.status.url`,
/// `.status.conditions[?(@.type=="Ready")].status`, `.spec.items[0].name`, `.metadata.labels['app']`.
///
/// The subset of client-go's JSONPath that columns use: member names (dotted or bracketed and
/// quoted), indexes, `[*]`, and filters comparing a member path with a quoted string or a number
/// by `==` or `!=`. A path outside it is refused when the CRD is written.
struct ColumnPath: Sendable, Hashable {
    enum Step: Sendable, Hashable {
        case member(String)
        case index(Int)
        case all
        case filter(path: [String], equal: Bool, value: JSONValue)
    }

    let steps: [Step]
    let text: String

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    init(_ text: String) throws(ParseError) {
        self.text = text
        var source = Substring(text.trimmingCharacters(in: .whitespaces))
        // client-go accepts the expression with or without its braces.
        if source.hasPrefix("{"), source.hasSuffix("}") { source = source.dropFirst().dropLast() }
        guard source.first == "." else { throw ParseError(description: "must start with a dot") }
        var steps: [Step] = []
        while let first = source.first {
            if first == "." {
                source = source.dropFirst()
                let name = source.prefix { $0 != "." && $0 != "[" }
                guard !name.isEmpty, name.allSatisfy(Self.isNameCharacter) else {
                    throw ParseError(description: "invalid member name at \"\(source.prefix(20))\"")
                }
                steps.append(.member(String(name)))
                source = source.dropFirst(name.count)
            } else if first == "[" {
                guard let close = Self.closingBracket(source) else { throw ParseError(description: "unterminated [") }
                let inner = source[source.index(after: source.startIndex)..<close]
                steps.append(try Self.bracket(inner))
                source = source[source.index(after: close)...]
            } else {
                throw ParseError(description: "unexpected \"\(first)\"")
            }
        }
        self.steps = steps
    }

    private static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "_" || character == "-" || character == "/")
    }

    /// The `]` that closes the bracket at the start, skipping quoted text.
    private static func closingBracket(_ source: Substring) -> Substring.Index? {
        var quote: Character?
        for index in source.indices.dropFirst() {
            let character = source[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "]" {
                return index
            }
        }
        return nil
    }

    private static func unquoted(_ text: Substring) -> String? {
        guard text.count >= 2, let first = text.first, first == text.last, first == "'" || first == "\"" else { return nil }
        return String(text.dropFirst().dropLast())
    }

    private static func bracket(_ inner: Substring) throws(ParseError) -> Step {
        let trimmed = inner.trimmingCharacters(in: .whitespaces)
        if trimmed == "*" { return .all }
        if let index = Int(trimmed), index >= 0 { return .index(index) }
        if let name = unquoted(Substring(trimmed)) { return .member(name) }
        guard trimmed.hasPrefix("?("), trimmed.hasSuffix(")") else { throw ParseError(description: "unsupported [\(trimmed)]") }
        let condition = trimmed.dropFirst(2).dropLast()
        let equal: Bool
        let parts: [Substring]
        if let range = condition.range(of: "!=") {
            equal = false
            parts = [condition[..<range.lowerBound], condition[range.upperBound...]]
        } else if let range = condition.range(of: "==") {
            equal = true
            parts = [condition[..<range.lowerBound], condition[range.upperBound...]]
        } else {
            throw ParseError(description: "unsupported filter \(trimmed)")
        }
        let left = parts[0].trimmingCharacters(in: .whitespaces)
        let right = Substring(parts[1].trimmingCharacters(in: .whitespaces))
        guard left.hasPrefix("@.") else { throw ParseError(description: "a filter must compare a member of @") }
        let path = left.dropFirst(2).split(separator: ".").map(String.init)
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty && $0.allSatisfy(isNameCharacter) }) else {
            throw ParseError(description: "invalid filter path \(left)")
        }
        let value: JSONValue
        if let text = unquoted(right) {
            value = .string(text)
        } else if let integer = Int64(right) {
            value = .integer(integer)
        } else if let number = Double(right) {
            value = .number(number)
        } else if right == "true" || right == "false" {
            value = .bool(right == "true")
        } else {
            throw ParseError(description: "unsupported filter value \(right)")
        }
        return .filter(path: path, equal: equal, value: value)
    }

    /// Every value the path selects in `object`, in order.
    func values(in object: JSONValue) -> [JSONValue] {
        var current = [object]
        for step in steps {
            var next: [JSONValue] = []
            for value in current {
                switch step {
                case .member(let name):
                    if let member = value[name] { next.append(member) }
                case .index(let index):
                    if let element = value[index] { next.append(element) }
                case .all:
                    if let elements = value.arrayValue {
                        next.append(contentsOf: elements)
                    } else if let members = value.objectValue {
                        next.append(contentsOf: members.keys.sorted().compactMap { members[$0] })
                    }
                case .filter(let path, let equal, let expected):
                    for element in value.arrayValue ?? [] {
                        var field: JSONValue? = element
                        for key in path { field = field?[key] }
                        guard let field else { continue }
                        if StructuralSchema.sameValue(field, expected) == equal { next.append(element) }
                    }
                }
            }
            current = next
        }
        return current
    }
}
