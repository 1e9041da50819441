import Foundation
import KubeModels

extension StructuralSchema {
    /// Checks `value` against this schema as the API server's CRD validation does (kube-openapi's
    /// validator plus the `x-kubernetes-*` extensions), appending one error per violation.
    ///
    /// `oldValue` is the stored value at the same place on an update (nil on create): the
    /// transition rule `self == oldSelf` compares against it.
    func validate(_ value: JSONValue, path: String, oldValue: JSONValue?, errors: inout [FieldError]) {
        let shownPath = path.isEmpty ? "body" : path
        if value == .null {
            if nullable || (type == nil && preservesUnknownFields) { return }
            errors.append(FieldError(.typeInvalid, path, value: "null", "\(shownPath) in body must be of type \(typeName): \"null\""))
            return
        }
        guard matchesType(value) else {
            errors.append(
                FieldError(
                    .typeInvalid, path, value: .string(Self.jsonType(value)),
                    "\(shownPath) in body must be of type \(typeName): \"\(Self.jsonType(value))\""))
            return
        }
        if let enumeration, !enumeration.contains(where: { Self.sameValue($0, value) }) {
            errors.append(
                FieldError(.notSupported, path, value: value, "supported values: " + enumeration.map(FieldError.render).joined(separator: ", ")))
        }
        if let oldValue, !immutableMessages.isEmpty, !Self.sameValue(oldValue, value) {
            for message in immutableMessages { errors.append(FieldError(.invalid, path, value: value, message)) }
        }
        switch value {
        case .integer, .number, .numberText:
            validateNumber(value, path: path, shownPath: shownPath, errors: &errors)
        case .string(let text):
            validateString(text, path: path, shownPath: shownPath, errors: &errors)
        case .array(let elements):
            validateArray(elements, path: path, shownPath: shownPath, oldValue: oldValue?.arrayValue, errors: &errors)
        case .object(let members):
            validateObject(members, path: path, shownPath: shownPath, oldValue: oldValue?.objectValue, errors: &errors)
        case .bool, .null:
            break
        }
        validateCombinators(value, path: path, shownPath: shownPath, oldValue: oldValue, errors: &errors)
    }

    private var typeName: String {
        if intOrString { return "integer,string" }
        return type ?? "object"
    }

    private func matchesType(_ value: JSONValue) -> Bool {
        if intOrString {
            if case .string = value { return true }
            return value.integerValue != nil
        }
        switch type {
        case nil: return true
        case "object": return value.objectValue != nil
        case "array": return value.arrayValue != nil
        case "string": return value.stringValue != nil
        case "boolean": return value.boolValue != nil
        case "integer":
            if case .numberText = value { return false }
            return value.integerValue != nil
        case "number":
            switch value {
            case .integer, .number, .numberText: return true
            default: return false
            }
        default: return false
        }
    }

    static func jsonType(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .number(let number): number.rounded() == number ? "integer" : "number"
        case .numberText: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// JSON equality that treats `1` and `1.0` as one value, as Go's decoded JSON does.
    static func sameValue(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.integer(let a), .number(let b)), (.number(let b), .integer(let a)): return Double(a) == b
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { sameValue($0, $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { sameValue(value, $0) } ?? false }
        default: return lhs == rhs
        }
    }

    private func validateNumber(_ value: JSONValue, path: String, shownPath: String, errors: inout [FieldError]) {
        let number: Double
        switch value {
        case .integer(let integer): number = Double(integer)
        case .number(let double): number = double
        default: return
        }
        if let maximum, exclusiveMaximum ? number >= maximum : number > maximum {
            let relation = exclusiveMaximum ? "less than" : "less than or equal to"
            errors.append(
                FieldError(.invalid, path, value: value, "\(shownPath) in body should be \(relation) \(FieldError.render(.number(maximum)))"))
        }
        if let minimum, exclusiveMinimum ? number <= minimum : number < minimum {
            let relation = exclusiveMinimum ? "greater than" : "greater than or equal to"
            errors.append(
                FieldError(.invalid, path, value: value, "\(shownPath) in body should be \(relation) \(FieldError.render(.number(minimum)))"))
        }
        if case .integer(let integer) = value, type == "integer" {
            if format == "int32", Int32(exactly: integer) == nil {
                errors.append(FieldError(.invalid, path, value: value, "\(shownPath) in body must be of type int32"))
            }
        }
    }

    private func validateString(_ text: String, path: String, shownPath: String, errors: inout [FieldError]) {
        // Lengths count code points, as Go's utf8.RuneCountInString does.
        let length = text.unicodeScalars.count
        if let maxLength, length > maxLength {
            errors.append(FieldError(.tooLong, path, value: .string(text), "may not be longer than \(maxLength)"))
        }
        if let minLength, length < minLength {
            errors.append(FieldError(.invalid, path, value: .string(text), "\(shownPath) in body should be at least \(minLength) chars long"))
        }
        if let pattern, let regex = try? Regex(pattern), (try? regex.firstMatch(in: text)) == nil {
            errors.append(FieldError(.invalid, path, value: .string(text), "\(shownPath) in body should match '\(pattern)'"))
        }
        if format == "date-time", (try? Date(text, strategy: .iso8601)) == nil {
            errors.append(FieldError(.invalid, path, value: .string(text), "\(shownPath) in body must be of type date-time: \"\(text)\""))
        }
    }

    private func validateArray(_ elements: [JSONValue], path: String, shownPath: String, oldValue: [JSONValue]?, errors: inout [FieldError]) {
        if let maxItems, elements.count > maxItems {
            errors.append(FieldError(.tooMany, path, value: .integer(Int64(elements.count)), "must have at most \(maxItems) items"))
        }
        if let minItems, elements.count < minItems {
            errors.append(
                FieldError(.invalid, path, value: .integer(Int64(elements.count)), "\(shownPath) in body should have at least \(minItems) items"))
        }
        if uniqueItems || listType == "set" {
            for (index, element) in elements.enumerated() where elements[..<index].contains(where: { Self.sameValue($0, element) }) {
                errors.append(FieldError(.duplicate, "\(path)[\(index)]", value: element, ""))
            }
        }
        if listType == "map", !listMapKeys.isEmpty {
            var seen: [[JSONValue?]] = []
            for (index, element) in elements.enumerated() {
                let key = listMapKeys.map { element[$0] }
                if seen.contains(key) {
                    errors.append(FieldError(.duplicate, "\(path)[\(index)]", value: element, ""))
                }
                seen.append(key)
            }
        }
        guard let items else { return }
        for (index, element) in elements.enumerated() {
            items.validate(element, path: "\(path)[\(index)]", oldValue: nil, errors: &errors)
        }
    }

    private func validateObject(
        _ members: [String: JSONValue], path: String, shownPath: String, oldValue: [String: JSONValue]?, errors: inout [FieldError]
    ) {
        for name in required where members[name] == nil {
            errors.append(FieldError(.required, Self.join(path, name), ""))
        }
        if let maxProperties, members.count > maxProperties {
            errors.append(
                FieldError(
                    .tooMany, path, value: .integer(Int64(members.count)), "\(shownPath) in body should have at most \(maxProperties) properties"))
        }
        if let minProperties, members.count < minProperties {
            errors.append(
                FieldError(
                    .invalid, path, value: .integer(Int64(members.count)), "\(shownPath) in body should have at least \(minProperties) properties"))
        }
        for name in members.keys.sorted() {
            let member = members[name]!
            if let schema = properties[name] {
                schema.validate(member, path: Self.join(path, name), oldValue: oldValue?[name], errors: &errors)
            } else if case .schema(let schema) = additionalProperties {
                schema.validate(member, path: Self.join(path, name), oldValue: oldValue?[name], errors: &errors)
            }
        }
    }

    private func validateCombinators(_ value: JSONValue, path: String, shownPath: String, oldValue: JSONValue?, errors: inout [FieldError]) {
        for schema in allOf { schema.validate(value, path: path, oldValue: oldValue, errors: &errors) }
        func passes(_ schema: StructuralSchema) -> Bool {
            var scratch: [FieldError] = []
            schema.validate(value, path: path, oldValue: oldValue, errors: &scratch)
            return scratch.isEmpty
        }
        if !anyOf.isEmpty, !anyOf.contains(where: passes) {
            errors.append(FieldError(.invalid, path, value: value, "\(shownPath) in body must be valid against at least one of the schemas (anyOf)"))
        }
        if !oneOf.isEmpty, oneOf.filter(passes).count != 1 {
            errors.append(FieldError(.invalid, path, value: value, "\(shownPath) in body must validate one and only one schema (oneOf)"))
        }
        if let not, passes(not) {
            errors.append(FieldError(.invalid, path, value: value, "\(shownPath) in body must not validate the schema (not)"))
        }
    }

    static func join(_ path: String, _ name: String) -> String {
        path.isEmpty ? name : "\(path).\(name)"
    }
}
