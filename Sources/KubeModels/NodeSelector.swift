/// A node selector as Pods' required node affinity and Liqo's `clusterSelector` write it:
/// `nodeSelectorTerms`, any of which may match (OR); within a term every requirement must (AND).
///
/// Read leniently from JSON, as kube-apiserver has already validated it: a term without
/// requirements matches nothing, an unknown operator never matches.
public struct NodeSelector: Sendable, Hashable {
    public var terms: [Term]

    public struct Term: Sendable, Hashable {
        public var matchExpressions: [Requirement]
        public var matchFields: [Requirement]

        public init(matchExpressions: [Requirement] = [], matchFields: [Requirement] = []) {
            self.matchExpressions = matchExpressions
            self.matchFields = matchFields
        }

        /// Whether a node with these labels and fields (`metadata.name`) matches the term.
        public func matches(labels: [String: String], fields: [String: String] = [:]) -> Bool {
            if matchExpressions.isEmpty, matchFields.isEmpty { return false }
            return matchExpressions.allSatisfy { $0.matches(labels) } && matchFields.allSatisfy { $0.matches(fields) }
        }
    }

    /// One `key operator values` requirement.
    public struct Requirement: Sendable, Hashable {
        public var key: String
        public var `operator`: String
        public var values: [String]

        public init(key: String, operator: String, values: [String] = []) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }

        init(_ json: JSONValue) {
            key = json["key"]?.stringValue ?? ""
            `operator` = json["operator"]?.stringValue ?? ""
            values = (json["values"]?.arrayValue ?? []).compactMap(\.stringValue)
        }

        /// Kubernetes' semantics: `NotIn` and `DoesNotExist` match an absent key; `Gt`/`Lt`
        /// compare integers, and never match what is not one.
        public func matches(_ labels: [String: String]) -> Bool {
            let actual = labels[key]
            switch `operator` {
            case "In": return actual.map(values.contains) ?? false
            case "NotIn": return actual.map { !values.contains($0) } ?? true
            case "Exists": return actual != nil
            case "DoesNotExist": return actual == nil
            case "Gt", "Lt":
                guard let actual = actual.flatMap({ Int64($0) }), values.count == 1, let bound = Int64(values[0]) else { return false }
                return `operator` == "Gt" ? actual > bound : actual < bound
            default: return false
            }
        }
    }

    public init(terms: [Term]) {
        self.terms = terms
    }

    /// Reads `{"nodeSelectorTerms": [...]}`.
    public init(json: JSONValue) {
        terms = (json["nodeSelectorTerms"]?.arrayValue ?? []).map { term in
            Term(
                matchExpressions: (term["matchExpressions"]?.arrayValue ?? []).map(Requirement.init),
                matchFields: (term["matchFields"]?.arrayValue ?? []).map(Requirement.init))
        }
    }

    /// Whether any term matches.
    public func matches(labels: [String: String], fields: [String: String] = [:]) -> Bool {
        terms.contains { $0.matches(labels: labels, fields: fields) }
    }
}
