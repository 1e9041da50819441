import Foundation
import KubeModels

/// One invalid field, written as the API server's `field.Error` (`spec.replicas: Invalid value:
/// "x": ...`) and reported as a `Status` cause.
struct FieldError: Sendable, Hashable, CustomStringConvertible {
    enum Kind: String, Sendable {
        case required = "FieldValueRequired"
        case invalid = "FieldValueInvalid"
        case typeInvalid = "FieldValueTypeInvalid"
        case notSupported = "FieldValueNotSupported"
        case forbidden = "FieldValueForbidden"
        case tooLong = "FieldValueTooLong"
        case tooMany = "FieldValueTooMany"
        case duplicate = "FieldValueDuplicate"
    }

    var kind: Kind
    /// The field's path without a leading dot: `spec.template.spec.containers[0].image`.
    var field: String
    var value: JSONValue?
    var detail: String

    init(_ kind: Kind, _ field: String, value: JSONValue? = nil, _ detail: String) {
        self.kind = kind
        self.field = field.hasPrefix(".") ? String(field.dropFirst()) : field
        self.value = value
        self.detail = detail
    }

    /// The message without the field: `Invalid value: "x": must be ...`.
    var body: String {
        let shown = value.map(Self.render) ?? ""
        switch kind {
        case .required: return detail.isEmpty ? "Required value" : "Required value: \(detail)"
        case .invalid, .typeInvalid: return "Invalid value: \(shown)" + (detail.isEmpty ? "" : ": \(detail)")
        case .notSupported: return "Unsupported value: \(shown)" + (detail.isEmpty ? "" : ": \(detail)")
        case .forbidden: return detail.isEmpty ? "Forbidden" : "Forbidden: \(detail)"
        case .tooLong: return "Too long: \(detail)"
        case .tooMany: return "Too many: \(shown): \(detail)"
        case .duplicate: return "Duplicate value: \(shown)"
        }
    }

    var description: String { field.isEmpty ? body : "\(field): \(body)" }

    /// How Go's `%#v`-like rendering in field errors shows a value: strings quoted, numbers bare.
    static func render(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return "\"" + text.replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case .integer(let integer): return String(integer)
        case .number(let number): return number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .numberText(let text): return text
        case .bool(let bool): return String(bool)
        case .null: return "null"
        case .array: return "\"array\""
        case .object: return "\"object\""
        }
    }

    /// The 422 the API server answers for an object with these errors.
    static func invalid(_ errors: [FieldError], kind: String, group: String, name: String) -> Status {
        let qualified = group.isEmpty ? kind : "\(kind).\(group)"
        let list = errors.count == 1 ? errors[0].description : "[" + errors.map(\.description).joined(separator: ", ") + "]"
        return .failure(
            422, .invalid, "\(qualified) \"\(name)\" is invalid: \(list)",
            details: .init(
                name: name, group: group, kind: kind,
                causes: errors.map { .init(reason: $0.kind.rawValue, message: $0.body, field: $0.field) }))
    }
}
