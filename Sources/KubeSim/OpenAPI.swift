import Hummingbird
import KubeModels

/// The OpenAPI v3 documents kubectl reads before `apply`.
///
/// kubectl only needs to learn that the server validates fields itself: a PATCH operation per
/// resource that declares the `fieldValidation` query parameter. It then sends
/// `fieldValidation=Strict` instead of validating against schemas, so no schemas are served.
enum OpenAPI {
    static func respond(_ path: String, types: [ResourceType] = ResourceType.all) throws -> Response {
        if path == "v3" {
            var paths: [String: JSONValue] = [:]
            for groupVersion in Set(types.map(\.groupVersion)) {
                let key = groupVersion.contains("/") ? "apis/\(groupVersion)" : "api/\(groupVersion)"
                paths[key] = ["serverRelativeURL": .string("/openapi/v3/\(key)?hash=kubesim")]
            }
            return .json(["paths": .object(paths)])
        }
        if path.hasPrefix("v3/") {
            let key = String(path.dropFirst(3))
            let groupVersion = key.hasPrefix("apis/") ? String(key.dropFirst(5)) : key.hasPrefix("api/") ? String(key.dropFirst(4)) : ""
            let served = types.filter { $0.groupVersion == groupVersion }
            guard !served.isEmpty else { throw Status.failure(404, .notFound, "the server could not find the requested resource") }
            return .json(document(served, prefix: "/" + key))
        }
        // v2 is only asked for as protobuf when v3 is missing; kubectl copes with a 404.
        throw Status.failure(404, .notFound, "the server could not find the requested resource")
    }

    static func document(_ types: [ResourceType], prefix: String) -> JSONValue {
        var paths: [String: JSONValue] = [:]
        for type in types {
            let itemPath = type.namespaced ? "\(prefix)/namespaces/{namespace}/\(type.plural)/{name}" : "\(prefix)/\(type.plural)/{name}"
            let operation: JSONValue = [
                "x-kubernetes-group-version-kind": ["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)],
                "parameters": [["name": "fieldValidation", "in": "query", "schema": ["type": "string"]]],
                "responses": ["200": ["description": "OK"]],
            ]
            paths[itemPath] = ["patch": operation, "put": operation]
            let collectionPath = type.namespaced ? "\(prefix)/namespaces/{namespace}/\(type.plural)" : "\(prefix)/\(type.plural)"
            paths[collectionPath] = ["post": operation]
        }
        return [
            "openapi": "3.0.0",
            "info": ["title": "Kubernetes", "version": .string(Discovery.version["gitVersion"]?.stringValue ?? "v1.32")],
            "paths": .object(paths),
            "components": ["schemas": [:]],
        ]
    }
}
