import KubeModels

/// One node of a CustomResourceDefinition's `openAPIV3Schema`, read into the parts the API
/// server acts on: types for validation, properties for pruning, defaults for defaulting.
///
/// `apiextensions.k8s.io/v1` requires schemas to be *structural* (every field has a type, or is
/// `x-kubernetes-int-or-string` or `x-kubernetes-preserve-unknown-fields`; `properties` and
/// `additionalProperties` are not both set); ``parse(_:path:)`` refuses the others as the API
/// server refuses such a CRD.
final class StructuralSchema: Sendable {
    /// `additionalProperties`: absent, a boolean, or a schema for every value of a map.
    enum AdditionalProperties: Sendable {
        case unspecified
        case allowed(Bool)
        case schema(StructuralSchema)

        /// `additionalProperties: true`: any member is kept as it is.
        var allowsAny: Bool {
            if case .allowed(true) = self { return true }
            return false
        }
    }

    let type: String?
    let properties: [String: StructuralSchema]
    let additionalProperties: AdditionalProperties
    let items: StructuralSchema?
    let required: [String]
    let enumeration: [JSONValue]?
    let maximum: Double?
    let exclusiveMaximum: Bool
    let minimum: Double?
    let exclusiveMinimum: Bool
    let maxLength: Int?
    let minLength: Int?
    let pattern: String?
    let maxItems: Int?
    let minItems: Int?
    let maxProperties: Int?
    let minProperties: Int?
    let uniqueItems: Bool
    let format: String?
    let nullable: Bool
    let defaultValue: JSONValue?
    let intOrString: Bool
    let preservesUnknownFields: Bool
    let embeddedResource: Bool
    let description: String?
    /// `x-kubernetes-list-type` (`atomic`, `set`, `map`) and, for maps, the keys that identify an element.
    let listType: String?
    let listMapKeys: [String]
    /// `x-kubernetes-validations` rules of the one form evaluated here, `self == oldSelf`
    /// (immutability), with their messages.
    let immutableMessages: [String]
    /// Value-validation combinators: they constrain values but add no fields and no types.
    let allOf: [StructuralSchema]
    let anyOf: [StructuralSchema]
    let oneOf: [StructuralSchema]
    let not: StructuralSchema?

    private init(
        _ json: [String: JSONValue], type: String?, properties: [String: StructuralSchema], additionalProperties: AdditionalProperties,
        items: StructuralSchema?, immutableMessages: [String], allOf: [StructuralSchema], anyOf: [StructuralSchema],
        oneOf: [StructuralSchema], not: StructuralSchema?
    ) {
        self.type = type
        self.properties = properties
        self.additionalProperties = additionalProperties
        self.items = items
        required = json["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        enumeration = json["enum"]?.arrayValue
        maximum = json["maximum"].flatMap(Self.double)
        exclusiveMaximum = json["exclusiveMaximum"]?.boolValue ?? false
        minimum = json["minimum"].flatMap(Self.double)
        exclusiveMinimum = json["exclusiveMinimum"]?.boolValue ?? false
        maxLength = json["maxLength"]?.integerValue.flatMap { Int(exactly: $0) }
        minLength = json["minLength"]?.integerValue.flatMap { Int(exactly: $0) }
        pattern = json["pattern"]?.stringValue
        maxItems = json["maxItems"]?.integerValue.flatMap { Int(exactly: $0) }
        minItems = json["minItems"]?.integerValue.flatMap { Int(exactly: $0) }
        maxProperties = json["maxProperties"]?.integerValue.flatMap { Int(exactly: $0) }
        minProperties = json["minProperties"]?.integerValue.flatMap { Int(exactly: $0) }
        uniqueItems = json["uniqueItems"]?.boolValue ?? false
        format = json["format"]?.stringValue
        nullable = json["nullable"]?.boolValue ?? false
        defaultValue = json["default"]
        intOrString = json["x-kubernetes-int-or-string"]?.boolValue ?? false
        preservesUnknownFields = json["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false
        embeddedResource = json["x-kubernetes-embedded-resource"]?.boolValue ?? false
        description = json["description"]?.stringValue
        listType = json["x-kubernetes-list-type"]?.stringValue
        listMapKeys = json["x-kubernetes-list-map-keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.immutableMessages = immutableMessages
        self.allOf = allOf
        self.anyOf = anyOf
        self.oneOf = oneOf
        self.not = not
    }

    private static func double(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let integer): Double(integer)
        case .number(let number): number
        default: nil
        }
    }

    /// The types `type` may name, as in OpenAPI v3.
    static let knownTypes: Set<String> = ["object", "array", "string", "integer", "number", "boolean"]

    /// Reads a schema, collecting what makes it non-structural or invalid into `errors` (paths
    /// as the API server writes them, `spec.versions[0].schema.openAPIV3Schema.properties[spec]...`).
    static func parse(
        _ value: JSONValue, path: String, errors: inout [FieldError], underValueValidation: Bool = false, isRoot: Bool = false,
        allowsTypes: Bool = false
    ) -> StructuralSchema {
        guard case .object(let json) = value else {
            errors.append(FieldError(.invalid, path, value: value, "must be an object"))
            return StructuralSchema(
                [:], type: nil, properties: [:], additionalProperties: .unspecified, items: nil, immutableMessages: [], allOf: [], anyOf: [],
                oneOf: [], not: nil)
        }
        let type = json["type"]?.stringValue
        if let type, !knownTypes.contains(type) {
            errors.append(
                FieldError(
                    .notSupported, path + ".type", value: .string(type),
                    "supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\""))
        }
        let intOrString = json["x-kubernetes-int-or-string"]?.boolValue ?? false
        let preserves = json["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false
        if !underValueValidation {
            if type == nil, !intOrString, !preserves {
                errors.append(FieldError(.required, path + ".type", "must not be empty for specified object fields"))
            }
            if intOrString, let type {
                errors.append(FieldError(.forbidden, path + ".type", value: .string(type), "must be empty if x-kubernetes-int-or-string is true"))
            }
        } else {
            // Inside anyOf/allOf/oneOf/not a schema may only constrain values, not add fields or types.
            // ...except the int-or-string idiom, `anyOf: [{type: integer}, {type: string}]` beside the extension.
            let forbiddenKeys =
                ["additionalProperties", "default", "nullable", "x-kubernetes-preserve-unknown-fields"] + (allowsTypes ? [] : ["type"])
            for forbidden in forbiddenKeys where json[forbidden] != nil {
                errors.append(FieldError(.forbidden, path + "." + forbidden, "must be empty to be structural"))
            }
        }
        if isRoot, type != "object" {
            errors.append(FieldError(.invalid, path + ".type", value: json["type"] ?? .null, "must be object at the root"))
        }
        var properties: [String: StructuralSchema] = [:]
        for (name, child) in json["properties"]?.objectValue ?? [:] {
            properties[name] = parse(child, path: "\(path).properties[\(name)]", errors: &errors, underValueValidation: underValueValidation)
        }
        var additional = AdditionalProperties.unspecified
        switch json["additionalProperties"] {
        case .bool(let allowed)?: additional = .allowed(allowed)
        case .object?:
            additional = .schema(parse(json["additionalProperties"]!, path: path + ".additionalProperties", errors: &errors))
            if json["properties"] != nil {
                errors.append(FieldError(.forbidden, path + ".additionalProperties", "additionalProperties and properties are mutual exclusive"))
            }
        default: break
        }
        let items = json["items"].map { parse($0, path: path + ".items", errors: &errors, underValueValidation: underValueValidation) }
        if type == "array", items == nil, !underValueValidation {
            errors.append(FieldError(.required, path + ".items", "must be specified"))
        }
        if let pattern = json["pattern"]?.stringValue, (try? Regex(pattern)) == nil {
            errors.append(FieldError(.invalid, path + ".pattern", value: .string(pattern), "must be a valid regular expression"))
        }
        var immutable: [String] = []
        for (index, rule) in (json["x-kubernetes-validations"]?.arrayValue ?? []).enumerated() {
            let text = rule["rule"]?.stringValue ?? ""
            if text.filter({ !$0.isWhitespace }) == "self==oldSelf" {
                immutable.append(rule["message"]?.stringValue ?? "Invalid value: \"object\": rule \(text) failed")
            } else if text.isEmpty {
                errors.append(FieldError(.required, "\(path).x-kubernetes-validations[\(index)].rule", ""))
            }
            // Other CEL rules are accepted and not evaluated: see schemas/README.md.
        }
        func list(_ key: String) -> [StructuralSchema] {
            (json[key]?.arrayValue ?? []).enumerated().map { index, child in
                parse(child, path: "\(path).\(key)[\(index)]", errors: &errors, underValueValidation: true, allowsTypes: intOrString)
            }
        }
        let schema = StructuralSchema(
            json, type: type, properties: properties, additionalProperties: additional, items: items, immutableMessages: immutable,
            allOf: list("allOf"), anyOf: list("anyOf"), oneOf: list("oneOf"),
            not: json["not"].map { parse($0, path: path + ".not", errors: &errors, underValueValidation: true) })
        // A default must itself be valid, as the API server checks when the CRD is written.
        if let defaultValue = schema.defaultValue, !underValueValidation {
            var defaultErrors: [FieldError] = []
            schema.validate(defaultValue, path: "", oldValue: nil, errors: &defaultErrors)
            for error in defaultErrors {
                errors.append(FieldError(.invalid, path + ".default", value: defaultValue, error.description))
            }
        }
        return schema
    }
}
