import KubeModels

extension NamespaceOverride {
    /// Why a JSON body is not an override.
    public struct DecodingError: Error, Sendable, Hashable, CustomStringConvertible {
        public var problems: [String]
        public var description: String { problems.joined(separator: "; ") }
    }

    /// Reads an override strictly: only `pin`, `prefer` and `exclude`, with their types, and a
    /// valid combination.
    public init(json: JSONValue) throws(DecodingError) {
        guard case .object(let members) = json else {
            throw DecodingError(problems: ["expected a JSON object with \"pin\", \"prefer\" or \"exclude\""])
        }
        var problems: [String] = []
        for key in members.keys.sorted() where !["pin", "prefer", "exclude"].contains(key) {
            problems.append("unknown key \"\(key)\" (allowed: pin, prefer, exclude)")
        }
        func list(_ key: String) -> [String]? {
            guard let value = members[key], value != .null else { return nil }
            guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                problems.append("\"\(key)\" must be a list of cluster names")
                return nil
            }
            return items.compactMap(\.stringValue)
        }
        var pin: String?
        if let value = members["pin"], value != .null {
            if let name = value.stringValue { pin = name } else { problems.append("\"pin\" must be a cluster name") }
        }
        let override = NamespaceOverride(pin: pin, prefer: list("prefer"), exclude: list("exclude"))
        if problems.isEmpty { problems = override.validationErrors() }
        guard problems.isEmpty else { throw DecodingError(problems: problems) }
        self = override
    }

    /// The override as JSON, keys in a fixed order, empty parts left out.
    public var json: JSONValue {
        var members: [String: JSONValue] = [:]
        if let pin { members["pin"] = .string(pin) }
        if let prefer, !prefer.isEmpty { members["prefer"] = .array(prefer.map(JSONValue.string)) }
        if let exclude, !exclude.isEmpty { members["exclude"] = .array(exclude.map(JSONValue.string)) }
        return .object(members)
    }

    /// The overrides stored in a ConfigMap's data (one key per Direktiv namespace, the override
    /// as JSON). Entries that do not read are left out and reported.
    public static func table(configMapData data: [String: String]) -> (overrides: [String: NamespaceOverride], problems: [String]) {
        var overrides: [String: NamespaceOverride] = [:]
        var problems: [String] = []
        for (namespace, text) in data.sorted(by: { $0.key < $1.key }) {
            do {
                let json: JSONValue
                do { json = try JSONValue.parse(Array(text.utf8)) } catch { throw DecodingError(problems: ["not JSON: \(error)"]) }
                overrides[namespace] = try NamespaceOverride(json: json)
            } catch {
                problems.append("\(namespace): \(error)")
            }
        }
        return (overrides, problems)
    }

    /// The ConfigMap data value for this override.
    public var storedValue: String {
        String(decoding: json.jsonBytes, as: UTF8.self)
    }
}
