import Yams

/// Collects decoding problems so that one pass reports all of them, not just the first.
final class DiagnosticSink: @unchecked Sendable {
    // Decoding runs synchronously on one thread; the sink never escapes it.
    private(set) var problems: [(path: [String], message: String, atKey: Bool)] = []

    func record(_ path: [String], _ message: String, atKey: Bool = false) {
        problems.append((path, message, atKey))
    }

    func record(_ error: any Error, at basePath: [String]) {
        switch error {
        case DecodingError.typeMismatch(let expected, let context):
            record(Self.path(context.codingPath), "expected \(Self.describe(expected))")
        case DecodingError.valueNotFound(let expected, let context):
            record(Self.path(context.codingPath), "expected \(Self.describe(expected)), found nothing")
        case DecodingError.keyNotFound(let key, let context):
            record(Self.path(context.codingPath), "missing required key \"\(key.stringValue)\"")
        case DecodingError.dataCorrupted(let context):
            record(Self.path(context.codingPath), context.debugDescription)
        default:
            record(basePath, "\(error)")
        }
    }

    static let userInfoKey = CodingUserInfoKey(rawValue: "direktiv-dispatch.diagnostics")!

    static func path(_ codingPath: [any CodingKey]) -> [String] {
        codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
    }

    private static func describe(_ type: Any.Type) -> String {
        if type == String.self { return "a string" }
        if type == Bool.self { return "true or false" }
        if type == Int.self || type == Int64.self || type == Double.self { return "a number" }
        switch String(describing: type) {
        case let name where name.hasPrefix("Array") || name.hasPrefix("Lenient") || name == "Sequence": return "a list"
        case "Scalar": return "a single value"
        default: return "a mapping"
        }
    }
}

/// A coding key for any string or index.
struct AnyCodingKey: CodingKey, Hashable {
    var stringValue: String
    var intValue: Int?

    init(_ string: String) {
        stringValue = string
        intValue = nil
    }

    init?(stringValue: String) { self.init(stringValue) }

    init?(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// Reads one YAML mapping strictly: unknown keys and bad values are recorded, defaults stand in.
struct StrictMapping {
    let decoder: any Decoder
    let container: KeyedDecodingContainer<AnyCodingKey>
    let sink: DiagnosticSink
    var path: [String] { DiagnosticSink.path(decoder.codingPath) }

    /// Opens the mapping; `nil` (with the problem recorded) when the value is not a mapping.
    init?(_ decoder: any Decoder, allowedKeys: [String]) {
        guard let sink = decoder.userInfo[DiagnosticSink.userInfoKey] as? DiagnosticSink else {
            preconditionFailure("rules types decode only through RulesParser")
        }
        self.decoder = decoder
        self.sink = sink
        do {
            container = try decoder.container(keyedBy: AnyCodingKey.self)
        } catch {
            sink.record(DiagnosticSink.path(decoder.codingPath), "expected a mapping")
            return nil
        }
        for key in container.allKeys where !allowedKeys.contains(key.stringValue) {
            sink.record(
                DiagnosticSink.path(decoder.codingPath) + [key.stringValue],
                "unknown key \"\(key.stringValue)\" (allowed: \(allowedKeys.joined(separator: ", ")))",
                atKey: true
            )
        }
    }

    func contains(_ key: String) -> Bool {
        container.contains(AnyCodingKey(key))
    }

    /// The value at `key`, or `nil` when absent, null, or invalid (then recorded).
    func optional<T: Decodable>(_ key: String, as type: T.Type = T.self) -> T? {
        let codingKey = AnyCodingKey(key)
        guard container.contains(codingKey) else { return nil }
        do {
            if try container.decodeNil(forKey: codingKey) { return nil }
            return try container.decode(T.self, forKey: codingKey)
        } catch {
            sink.record(error, at: path + [key])
            return nil
        }
    }

    /// The value at `key`, or `fallback` when absent or invalid.
    func value<T: Decodable>(_ key: String, default fallback: @autoclosure () -> T) -> T {
        optional(key, as: T.self) ?? fallback()
    }

    /// Records a problem with the value at `key`.
    func problem(_ key: String, _ message: String) {
        sink.record(path + [key], message)
    }

    /// Records a problem with the mapping itself.
    func problem(_ message: String) {
        sink.record(path, message)
    }
}

/// A list whose elements are decoded one by one, so one bad element does not hide the others.
struct Lenient<Element: Decodable>: Decodable {
    var elements: [Element]

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var result: [Element] = []
        let sink = decoder.userInfo[DiagnosticSink.userInfoKey] as? DiagnosticSink
        while !container.isAtEnd {
            let index = container.currentIndex
            do {
                result.append(try container.decode(Element.self))
            } catch {
                guard let sink else { throw error }
                sink.record(error, at: DiagnosticSink.path(decoder.codingPath) + ["[\(index)]"])
                // Skip the bad element so decoding continues with the next one.
                _ = try? container.decode(Skip.self)
            }
        }
        elements = result
    }

    private struct Skip: Decodable {
        init(from decoder: any Decoder) throws {}
    }
}

/// Line and column of every key and value in a YAML document, by key path.
struct YAMLLocations {
    private var keyMarks: [String: Mark] = [:]
    private var valueMarks: [String: Mark] = [:]
    private(set) var duplicateKeys: [(path: [String], mark: Mark?)] = []

    init(_ node: Yams.Node) {
        visit(node, path: [])
    }

    private mutating func visit(_ node: Yams.Node, path: [String]) {
        let key = Self.key(path)
        if let mark = node.mark { valueMarks[key] = mark }
        switch node {
        case .mapping(let mapping):
            var seen: Set<String> = []
            for (keyNode, valueNode) in mapping {
                let name = keyNode.string ?? ""
                let childPath = path + [name]
                if !seen.insert(name).inserted {
                    duplicateKeys.append((childPath, keyNode.mark))
                    continue
                }
                if let mark = keyNode.mark { keyMarks[Self.key(childPath)] = mark }
                visit(valueNode, path: childPath)
            }
        case .sequence(let sequence):
            for (index, element) in sequence.enumerated() {
                visit(element, path: path + ["[\(index)]"])
            }
        case .scalar, .alias:
            break
        }
    }

    /// The best-known position for a path: the key itself when asked, else the value, else the nearest parent.
    func mark(for path: [String], atKey: Bool) -> Mark? {
        var current = path
        if atKey, let mark = keyMarks[Self.key(current)] { return mark }
        while true {
            if let mark = valueMarks[Self.key(current)] { return mark }
            if let mark = keyMarks[Self.key(current)] { return mark }
            if current.isEmpty { return nil }
            current.removeLast()
        }
    }

    static func key(_ path: [String]) -> String {
        path.joined(separator: "\u{1F}")
    }

    /// `namespaces[1].onNoFit` from `["namespaces", "[1]", "onNoFit"]`.
    static func display(_ path: [String]) -> String {
        var text = ""
        for component in path {
            if component.hasPrefix("[") || text.isEmpty {
                text += component
            } else {
                text += "." + component
            }
        }
        return text
    }
}
