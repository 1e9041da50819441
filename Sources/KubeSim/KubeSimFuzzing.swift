import KubeModels

/// The simulator's parsers of untrusted input, for the fuzz targets (DispatchFuzz) and nothing
/// else: package-visible, so they stay out of KubeSim's public API.
package enum KubeSimFuzzing {
    /// The built-in kinds that take a strategic merge patch, in a fixed order.
    package static let patchableKinds: [ResourceType] = [.pods, .deployments, .nodes, .namespaces, .mutatingWebhookConfigurations, .configMaps]

    /// Applies a strategic merge patch as the API server does for `kind`; nil when it refuses it.
    package static func strategicMergePatch(_ patch: JSONValue, to object: JSONValue, kind: ResourceType) -> JSONValue? {
        guard let schema = PatchSchema.builtIn(kind) else { return nil }
        return try? StrategicMergePatch.apply(patch, to: object, schema: schema)
    }

    /// What a CRD's schema does to an object on a write: nil when the schema is not structural;
    /// else the object decoded (pruned and defaulted) and the validation errors of the result.
    package static func customResourceWrite(schema: JSONValue, object: JSONValue, old: JSONValue?) -> (decoded: JSONValue, errors: [String])? {
        var problems: [FieldError] = []
        let parsed = StructuralSchema.parse(schema, path: "openAPIV3Schema", errors: &problems, isRoot: true)
        guard problems.isEmpty else { return nil }
        var unknown: [String] = []
        let decoded = parsed.defaulted(parsed.pruned(object, unknown: &unknown, isRoot: true))
        var errors: [FieldError] = []
        parsed.validate(decoded, path: "", oldValue: old, errors: &errors)
        return (decoded, errors.map(\.description))
    }

    /// Parses a printer column's JSONPath and, when it parses, evaluates it on `object`.
    package static func columnPath(_ text: String, on object: JSONValue) -> [JSONValue]? {
        (try? ColumnPath(text))?.values(in: object)
    }

    /// Compiles a `matchConditions` expression and, when it compiles, evaluates it twice on
    /// `variables`: nil when it does not compile, else both outcomes (`nil` for an evaluation error).
    package static func matchCondition(_ source: String, variables: [String: JSONValue]) -> (Bool?, Bool?)? {
        guard let condition = try? MatchCondition(compiling: source) else { return nil }
        return ((try? condition.evaluate(variables)), (try? condition.evaluate(variables)))
    }

    /// The same expression negated twice, `!(!(source))`, evaluated: what double negation gives.
    package static func doublyNegated(_ source: String, variables: [String: JSONValue]) -> Bool?? {
        guard let condition = try? MatchCondition(compiling: "!(!(\(source)))") else { return nil }
        return .some(try? condition.evaluate(variables))
    }

    /// Applies `configuration` to `object` as manager `fuzz` of a built-in kind (forced), then once
    /// more to the result: nil when the first apply is refused, else both results without their
    /// timestamps.
    package static func serverSideApply(_ configuration: JSONValue, to object: JSONValue, kind: ResourceType) -> (JSONValue, JSONValue?)? {
        let schema = PatchSchema.builtIn(kind)
        func apply(_ target: JSONValue) -> JSONValue? {
            try? ServerSideApply.apply(configuration, to: target, manager: "fuzz", force: true, schema: schema, apiVersion: kind.apiVersion)
        }
        guard let once = apply(object) else { return nil }
        func untimed(_ value: JSONValue) -> JSONValue {
            let entries = (value[path: "metadata", "managedFields"]?.arrayValue ?? []).map { $0.setting("time", nil) }
            return value.setting("metadata", (value["metadata"] ?? [:]).setting("managedFields", entries.isEmpty ? nil : .array(entries)))
        }
        return (untimed(once), apply(once).map(untimed))
    }

    /// Reads a protobuf SelfSubjectAccessReview's spec; nil when it is malformed.
    package static func protobufReview(_ bytes: [UInt8]) -> JSONValue? {
        try? ProtobufReview.spec(bytes)
    }
}
