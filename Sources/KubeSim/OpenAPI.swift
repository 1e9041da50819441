import Hummingbird
import KubeModels

/// The OpenAPI v3 documents kubectl reads before `apply` and for `kubectl explain`.
///
/// For `apply` kubectl only needs to learn that the server validates fields itself: a PATCH
/// operation per resource that declares the `fieldValidation` query parameter. It then sends
/// `fieldValidation=Strict` instead of validating against schemas. For `explain` each custom
/// resource's schema is served as its CRD declares it, marked with its group, version and kind,
/// as the API server publishes CRD schemas; built-in kinds have no schema here.
enum OpenAPI {
    static func respond(_ path: String, served: CustomResourceRegistry.Snapshot) throws -> Response {
        let types = served.types
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
            let servedSnapshot = served
            let served = types.filter { $0.groupVersion == groupVersion }
            guard !served.isEmpty else { throw Status.failure(404, .notFound, "the server could not find the requested resource") }
            return .json(document(served, custom: served.compactMap { type in self.served(type, in: servedSnapshot) }, prefix: "/" + key))
        }
        // v2 is only asked for as protobuf when v3 is missing; kubectl copes with a 404.
        throw Status.failure(404, .notFound, "the server could not find the requested resource")
    }

    private static func served(_ type: ResourceType, in snapshot: CustomResourceRegistry.Snapshot) -> (ResourceType, CustomResourceRegistry.Served)? {
        snapshot.custom[type].map { (type, $0) }
    }

    static let objectMetaReference = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

    /// The name the API server gives a CRD's schema: the group reversed, then version and kind
    /// (`dev.knative.serving.v1.Service`).
    static func schemaName(_ type: ResourceType) -> String {
        (type.group.split(separator: ".").reversed().map(String.init) + [type.version, type.kind]).joined(separator: ".")
    }

    /// A CRD's schema as published: ObjectMeta by reference, `apiVersion` and `kind` described.
    static func publishedSchema(_ type: ResourceType, _ served: CustomResourceRegistry.Served) -> JSONValue {
        var schema = served.version.schemaJSON
        schema = schema.setting(
            path: ["properties", "metadata"],
            [
                "description":
                    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
                "allOf": [["$ref": .string("#/components/schemas/\(objectMetaReference)")]], "default": [:],
            ])
        schema = schema.setting(
            path: ["properties", "apiVersion"],
            ["type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."])
        schema = schema.setting(
            path: ["properties", "kind"],
            ["type": "string", "description": "Kind is a string value representing the REST resource this object represents."])
        return schema.setting(
            "x-kubernetes-group-version-kind", [["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)]])
    }

    static func document(_ types: [ResourceType], custom: [(ResourceType, CustomResourceRegistry.Served)], prefix: String) -> JSONValue {
        var schemas: [String: JSONValue] = [:]
        for (type, served) in custom { schemas[schemaName(type)] = publishedSchema(type, served) }
        if !custom.isEmpty {
            schemas[objectMetaReference] = [
                "type": "object",
                "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
                "properties": [
                    "name": ["type": "string", "description": "Name must be unique within a namespace."],
                    "namespace": ["type": "string", "description": "Namespace defines the space within which each name must be unique."],
                    "labels": [
                        "type": "object", "additionalProperties": ["type": "string", "default": ""], "description": "Map of string keys and values.",
                    ],
                    "annotations": [
                        "type": "object", "additionalProperties": ["type": "string", "default": ""], "description": "Unstructured key value map.",
                    ],
                    "uid": ["type": "string", "description": "UID is the unique in time and space value for this object."],
                    "resourceVersion": ["type": "string", "description": "An opaque value that represents the internal version of this object."],
                    "generation": [
                        "type": "integer", "format": "int64",
                        "description": "A sequence number representing a specific generation of the desired state.",
                    ],
                    "creationTimestamp": ["type": "string", "format": "date-time", "description": "The time this object was created."],
                ],
            ]
        }
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
            "components": ["schemas": .object(schemas)],
        ]
    }
}
