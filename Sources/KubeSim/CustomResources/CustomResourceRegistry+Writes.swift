import KubeModels

/// The `fieldValidation` query parameter: what the API server does with fields the schema does
/// not know. Without the parameter it warns (the server default since Kubernetes 1.27); kubectl
/// sends `Strict`.
enum FieldValidation: String, Sendable {
    case strict = "Strict"
    case warn = "Warn"
    case ignore = "Ignore"

    init(query: String?) throws(Status) {
        guard let query, !query.isEmpty else {
            self = .warn
            return
        }
        guard let value = FieldValidation(rawValue: query) else {
            throw Status.failure(400, .badRequest, "fieldValidation must be one of \"Ignore\", \"Strict\" or \"Warn\", got \"\(query)\"")
        }
        self = value
    }
}

extension CustomResourceRegistry.Served {
    /// What decoding a request body does to a custom resource: unknown fields dropped (an error
    /// under `Strict`, a warning under `Warn`), `null`s where the schema allows none dropped, and
    /// defaults filled in.
    func decoded(_ object: JSONValue, fieldValidation: FieldValidation, warnings: inout [String]) throws(Status) -> JSONValue {
        var unknown: [String] = []
        let pruned = schema.pruned(object, unknown: &unknown, isRoot: true)
        if !unknown.isEmpty {
            let messages = unknown.sorted().map { "unknown field \"\($0)\"" }
            switch fieldValidation {
            case .strict: throw Status.failure(400, .badRequest, "strict decoding error: " + messages.joined(separator: ", "))
            case .warn: warnings.append(contentsOf: messages)
            case .ignore: break
            }
        }
        return schema.defaulted(pruned)
    }

    /// The last step before storage: what mutating webhooks returned is pruned and defaulted
    /// like a request body, then the object must pass the schema (else the API server's 422).
    @discardableResult
    func validated(_ object: JSONValue, oldObject: JSONValue?) throws(Status) -> JSONValue {
        var unknown: [String] = []
        let result = schema.defaulted(schema.pruned(object, unknown: &unknown, isRoot: true))
        var errors: [FieldError] = []
        // metadata is ObjectMeta's business (names are checked by the store); the rest is the schema's.
        let checked = result.setting("metadata", nil).setting("apiVersion", nil).setting("kind", nil)
        schema.validate(checked, path: "", oldValue: oldObject.map { $0.setting("metadata", nil) }, errors: &errors)
        if !errors.isEmpty {
            throw FieldError.invalid(
                errors, kind: definition.kind, group: definition.group, name: object[path: "metadata", "name"]?.stringValue ?? "")
        }
        return result
    }
}
