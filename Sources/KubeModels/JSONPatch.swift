/// One operation of a JSON Patch document (RFC 6902).
public struct JSONPatchOperation: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case add, remove, replace, move, copy, test
    }

    public var op: Kind
    public var path: String
    public var from: String?
    public var value: JSONValue?

    public init(op: Kind, path: String, from: String? = nil, value: JSONValue? = nil) {
        self.op = op
        self.path = path
        self.from = from
        self.value = value
    }

    public static func add(_ path: JSONPointer, _ value: JSONValue) -> JSONPatchOperation {
        JSONPatchOperation(op: .add, path: path.description, value: value)
    }

    public static func replace(_ path: JSONPointer, _ value: JSONValue) -> JSONPatchOperation {
        JSONPatchOperation(op: .replace, path: path.description, value: value)
    }

    public static func remove(_ path: JSONPointer) -> JSONPatchOperation {
        JSONPatchOperation(op: .remove, path: path.description)
    }

    private enum CodingKeys: String, CodingKey { case op, path, from, value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        op = try container.decode(Kind.self, forKey: .op)
        path = try container.decode(String.self, forKey: .path)
        from = try container.decodeIfPresent(String.self, forKey: .from)
        // `"value": null` is a real value; only an absent member means "no value".
        value = container.contains(.value) ? try container.decode(JSONValue.self, forKey: .value) : nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(op, forKey: .op)
        try container.encode(path, forKey: .path)
        try container.encodeIfPresent(from, forKey: .from)
        if let value { try container.encode(value, forKey: .value) }
    }
}

/// Why a JSON Patch or JSON Pointer could not be applied.
public enum JSONPatchError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidPointer(String)
    case missingValue(operation: Int)
    case missingFrom(operation: Int)
    case pathNotFound(operation: Int, path: String)
    case invalidTarget(operation: Int, path: String, reason: String)
    case testFailed(operation: Int, path: String)
    case moveIntoChild(operation: Int, path: String)

    public var description: String {
        switch self {
        case .invalidPointer(let text): "invalid JSON pointer \"\(text)\""
        case .missingValue(let index): "operation \(index): missing \"value\""
        case .missingFrom(let index): "operation \(index): missing \"from\""
        case .pathNotFound(let index, let path): "operation \(index): path \"\(path)\" does not exist"
        case .invalidTarget(let index, let path, let reason): "operation \(index): path \"\(path)\": \(reason)"
        case .testFailed(let index, let path): "operation \(index): test at \"\(path)\" failed"
        case .moveIntoChild(let index, let path): "operation \(index): cannot move \"\(path)\" into one of its children"
        }
    }
}

/// Applies JSON Patch documents (RFC 6902) to `JSONValue`s.
public enum JSONPatch {
    /// Applies every operation in order; on any failure nothing is applied and the error says which.
    public static func apply(_ operations: [JSONPatchOperation], to document: JSONValue) throws(JSONPatchError) -> JSONValue {
        var result = document
        for (index, operation) in operations.enumerated() {
            try apply(operation, index: index, to: &result)
        }
        return result
    }

    private static func apply(_ operation: JSONPatchOperation, index: Int, to document: inout JSONValue) throws(JSONPatchError) {
        let path = try JSONPointer(parsing: operation.path)
        switch operation.op {
        case .add:
            guard let value = operation.value else { throw .missingValue(operation: index) }
            try insert(value, at: path, in: &document, index: index)
        case .remove:
            _ = try removeValue(at: path, in: &document, index: index)
        case .replace:
            guard let value = operation.value else { throw .missingValue(operation: index) }
            _ = try removeValue(at: path, in: &document, index: index)
            try insert(value, at: path, in: &document, index: index)
        case .move:
            guard let fromText = operation.from else { throw .missingFrom(operation: index) }
            let from = try JSONPointer(parsing: fromText)
            if from == path { return }
            if path.tokens.count > from.tokens.count, Array(path.tokens.prefix(from.tokens.count)) == from.tokens {
                throw .moveIntoChild(operation: index, path: fromText)
            }
            let value = try removeValue(at: from, in: &document, index: index)
            try insert(value, at: path, in: &document, index: index)
        case .copy:
            guard let fromText = operation.from else { throw .missingFrom(operation: index) }
            let from = try JSONPointer(parsing: fromText)
            guard let value = document.value(at: from) else { throw .pathNotFound(operation: index, path: fromText) }
            try insert(value, at: path, in: &document, index: index)
        case .test:
            guard let value = operation.value else { throw .missingValue(operation: index) }
            guard let current = document.value(at: path), current.isNumericallyEqual(to: value) else {
                throw .testFailed(operation: index, path: operation.path)
            }
        }
    }

    /// Parses an array index token; `-` means one past the end where `allowEnd` is set.
    static func arrayIndex(_ token: String, count: Int, allowEnd: Bool) -> Int? {
        if token == "-" { return allowEnd ? count : nil }
        guard !token.isEmpty, token.allSatisfy(\.isASCIIDigit), token == "0" || !token.hasPrefix("0"),
            let value = Int(token)
        else { return nil }
        return value < count || (allowEnd && value == count) ? value : nil
    }

    private static func insert(_ value: JSONValue, at path: JSONPointer, in document: inout JSONValue, index: Int) throws(JSONPatchError) {
        guard let last = path.tokens.last else {
            document = value
            return
        }
        try mutateContainer(at: Array(path.tokens.dropLast()), in: &document, path: path, index: index) { container throws(JSONPatchError) in
            switch container {
            case .object(var members):
                members[last] = value
                container = .object(members)
            case .array(var elements):
                guard let position = arrayIndex(last, count: elements.count, allowEnd: true) else {
                    throw .invalidTarget(operation: index, path: path.description, reason: "array index out of range")
                }
                elements.insert(value, at: position)
                container = .array(elements)
            default:
                throw .invalidTarget(operation: index, path: path.description, reason: "parent is a \(container.typeName)")
            }
        }
    }

    private static func removeValue(at path: JSONPointer, in document: inout JSONValue, index: Int) throws(JSONPatchError) -> JSONValue {
        guard let last = path.tokens.last else {
            throw .invalidTarget(operation: index, path: "", reason: "cannot remove the whole document")
        }
        var removed: JSONValue = .null
        try mutateContainer(at: Array(path.tokens.dropLast()), in: &document, path: path, index: index) { container throws(JSONPatchError) in
            switch container {
            case .object(var members):
                guard let value = members.removeValue(forKey: last) else {
                    throw .pathNotFound(operation: index, path: path.description)
                }
                removed = value
                container = .object(members)
            case .array(var elements):
                guard let position = arrayIndex(last, count: elements.count, allowEnd: false) else {
                    throw .pathNotFound(operation: index, path: path.description)
                }
                removed = elements.remove(at: position)
                container = .array(elements)
            default:
                throw .pathNotFound(operation: index, path: path.description)
            }
        }
        return removed
    }

    /// Walks to the container at `tokens` and lets `body` change it in place.
    private static func mutateContainer(
        at tokens: [String],
        in value: inout JSONValue,
        path: JSONPointer,
        index: Int,
        _ body: (inout JSONValue) throws(JSONPatchError) -> Void
    ) throws(JSONPatchError) {
        guard let first = tokens.first else {
            try body(&value)
            return
        }
        let rest = Array(tokens.dropFirst())
        switch value {
        case .object(var members):
            guard var child = members[first] else { throw .pathNotFound(operation: index, path: path.description) }
            members[first] = nil  // keeps the child uniquely referenced while it changes
            try mutateContainer(at: rest, in: &child, path: path, index: index, body)
            members[first] = child
            value = .object(members)
        case .array(var elements):
            guard let position = arrayIndex(first, count: elements.count, allowEnd: false) else {
                throw .pathNotFound(operation: index, path: path.description)
            }
            var child = elements[position]
            elements[position] = .null
            try mutateContainer(at: rest, in: &child, path: path, index: index, body)
            elements[position] = child
            value = .array(elements)
        default:
            throw .pathNotFound(operation: index, path: path.description)
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension JSONValue {
    /// Equality that compares numbers by value, as RFC 6902's `test` does: `1` and `1.0` are
    /// equal (an integral Double and the Int64 it is written as).
    public func isNumericallyEqual(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.integer(let a), .number(let b)), (.number(let b), .integer(let a)): return Double(a) == b
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.isNumericallyEqual(to: $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { value.isNumericallyEqual(to: $0) } ?? false }
        default: return self == other
        }
    }
}
