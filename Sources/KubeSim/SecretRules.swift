import Foundation
import KubeModels

/// What kube-apiserver does to a Secret on every write (`pkg/apis/core/validation`, the v1
/// conversion and defaulting), so that code writing Secrets here would also work there.
enum SecretRules {
    /// The API server's limit on a Secret's decoded data (`MaxSecretSize`).
    static let maximumSize = 1024 * 1024

    /// Decodes `data` (a value that is not base64 is refused with 400, as the JSON decoder into
    /// `[]byte` refuses it), folds the write-only `stringData` into it, defaults `type` to
    /// `Opaque`, and checks key syntax, total size and what the `kubernetes.io/tls` type needs.
    static func normalised(_ secret: JSONValue) throws(Status) -> JSONValue {
        let name = secret[path: "metadata", "name"]?.stringValue ?? ""
        var decoded: [String: Data] = [:]
        if let data = secret["data"], data != .null {
            guard case .object(let members) = data else {
                throw Status.failure(400, .badRequest, "Secret in version \"v1\" cannot be handled as a Secret: data must be an object")
            }
            for (key, value) in members {
                guard let text = value.stringValue, let bytes = Data(base64Encoded: text) else {
                    throw Status.failure(
                        400, .badRequest, "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[\(key)]")
                }
                decoded[key] = bytes
            }
        }
        if let stringData = secret["stringData"], stringData != .null {
            guard case .object(let members) = stringData, members.values.allSatisfy({ $0.stringValue != nil }) else {
                throw Status.failure(400, .badRequest, "Secret in version \"v1\" cannot be handled as a Secret: stringData values must be strings")
            }
            for (key, value) in members { decoded[key] = Data((value.stringValue ?? "").utf8) }
        }
        var causes: [Status.Cause] = []
        for key in decoded.keys.sorted() where !KubernetesNames.isConfigMapKey(key) {
            causes.append(
                .init(
                    reason: "FieldValueInvalid",
                    message: "Invalid value: \"\(key)\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                    field: "data[\(key)]"))
        }
        if decoded.values.reduce(0, { $0 + $1.count }) > maximumSize {
            causes.append(.init(reason: "FieldValueTooLong", message: "Too long: must have at most \(maximumSize) bytes", field: "data"))
        }
        let type = secret["type"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "Opaque"
        if type == "kubernetes.io/tls" {
            for key in ["tls.crt", "tls.key"] where decoded[key] == nil {
                causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "data[\(key)]"))
            }
        }
        if !causes.isEmpty {
            throw Status.failure(
                422, .invalid, "Secret \"\(name)\" is invalid: \(causes.map { "\($0.field ?? ""): \($0.message ?? "")" }.joined(separator: ", "))",
                details: .init(name: name, kind: "Secret", causes: causes))
        }
        var result = secret.setting("stringData", nil).setting("type", .string(type))
        result = result.setting("data", decoded.isEmpty ? nil : .object(decoded.mapValues { .string($0.base64EncodedString()) }))
        return result
    }

    /// `type` cannot change, nor anything of a Secret marked `immutable`.
    static func checkUpdate(_ next: JSONValue, current: JSONValue) throws(Status) {
        let name = current[path: "metadata", "name"]?.stringValue ?? ""
        if next["type"] != current["type"] {
            throw Status.failure(
                422, .invalid, "Secret \"\(name)\" is invalid: type: Invalid value: \(next["type"]?.stringValue ?? ""): field is immutable",
                details: .init(name: name, kind: "Secret", causes: [.init(reason: "FieldValueInvalid", message: "field is immutable", field: "type")])
            )
        }
        if current["immutable"] == true, next["data"] != current["data"] || next["immutable"] != current["immutable"] {
            throw Status.failure(
                422, .invalid, "Secret \"\(name)\" is invalid: data: Forbidden: field is immutable when `immutable` is set",
                details: .init(
                    name: name, kind: "Secret",
                    causes: [.init(reason: "FieldValueForbidden", message: "field is immutable when `immutable` is set", field: "data")]))
        }
    }
}
