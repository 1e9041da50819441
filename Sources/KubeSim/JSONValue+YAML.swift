import KubeModels
import Yams

extension JSONValue {
    /// Reads a YAML document as JSON, resolving scalars by their YAML tags (`1` a number, `true` a boolean).
    init(yaml: String) throws {
        guard let node = try Yams.compose(yaml: yaml) else {
            self = .null
            return
        }
        self = Self.convert(node)
    }

    private static func convert(_ node: Yams.Node) -> JSONValue {
        switch node {
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for (key, value) in mapping { members[key.string ?? ""] = convert(value) }
            return .object(members)
        case .sequence(let sequence):
            return .array(sequence.map(convert))
        case .scalar(let scalar):
            // Only plain scalars carry implicit types; quoted ones are always strings.
            guard scalar.style == .plain else { return .string(scalar.string) }
            if node.null != nil { return .null }
            if let bool = node.bool { return .bool(bool) }
            if let int = node.int { return .integer(Int64(int)) }
            if let float = node.float { return .number(float) }
            return .string(scalar.string)
        case .alias:
            return .null
        }
    }
}
