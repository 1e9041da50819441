import KubeModels

/// An `apiextensions.k8s.io/v1` CustomResourceDefinition, read and checked as the API server
/// checks one on create and update: the names, the scope, exactly one storage version, a
/// structural schema for every version, printer columns with valid types and paths.
struct CustomResourceDefinition: Sendable {
    /// A printer column: `kubectl get` shows it (with `-o wide` when `priority` > 0).
    struct PrinterColumn: Sendable {
        var name: String
        var type: String
        var format: String
        var description: String
        var priority: Int
        var path: ColumnPath
    }

    struct Version: Sendable {
        var name: String
        var served: Bool
        var storage: Bool
        var schema: StructuralSchema
        /// The schema as written, for OpenAPI (`kubectl explain`).
        var schemaJSON: JSONValue
        var hasStatusSubresource: Bool
        var printerColumns: [PrinterColumn]
        /// `selectableFields`: the fields a field selector may name, besides metadata.name and
        /// metadata.namespace (`spec.color` for a `jsonPath` of `.spec.color`).
        var selectableFields: [String] = []
    }

    var name: String
    var group: String
    var kind: String
    var listKind: String
    var plural: String
    var singular: String
    var shortNames: [String]
    var categories: [String]
    var namespaced: Bool
    var versions: [Version]

    static let columnTypes: Set<String> = ["integer", "number", "string", "boolean", "date"]

    /// The resource type served for one version.
    func resourceType(_ version: Version) -> ResourceType {
        ResourceType(
            group: group, version: version.name, plural: plural, singular: singular, kind: kind, namespaced: namespaced, shortNames: shortNames,
            categories: categories, hasStatusSubresource: version.hasStatusSubresource, tracksGeneration: true)
    }

    /// Reads a CRD; throws the 422 the API server answers for an invalid one.
    init(_ object: JSONValue) throws(Status) {
        var errors: [FieldError] = []
        let name = object[path: "metadata", "name"]?.stringValue ?? ""
        let spec = object["spec"] ?? .null
        group = spec["group"]?.stringValue ?? ""
        if group.isEmpty {
            errors.append(FieldError(.required, "spec.group", ""))
        } else if !group.contains(".") || !ObjectStore.isDNSSubdomain(group) {
            errors.append(FieldError(.invalid, "spec.group", value: .string(group), "should be a domain with at least one dot"))
        }
        let names = spec["names"] ?? .null
        plural = names["plural"]?.stringValue ?? ""
        kind = names["kind"]?.stringValue ?? ""
        singular = names["singular"]?.stringValue ?? kind.lowercased()
        listKind = names["listKind"]?.stringValue ?? (kind.isEmpty ? "" : kind + "List")
        shortNames = names["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? []
        categories = names["categories"]?.arrayValue?.compactMap(\.stringValue) ?? []
        for (field, value) in [("plural", plural), ("singular", singular)] {
            if field == "plural", value.isEmpty {
                errors.append(FieldError(.required, "spec.names.plural", ""))
            } else if !value.isEmpty, !ObjectStore.isDNSLabel(value) {
                errors.append(
                    FieldError(
                        .invalid, "spec.names.\(field)", value: .string(value),
                        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
                    ))
            }
        }
        for (index, shortName) in shortNames.enumerated() where !ObjectStore.isDNSLabel(shortName) {
            errors.append(FieldError(.invalid, "spec.names.shortNames[\(index)]", value: .string(shortName), "a lowercase RFC 1123 label"))
        }
        if kind.isEmpty { errors.append(FieldError(.required, "spec.names.kind", "")) }
        if !group.isEmpty, !plural.isEmpty, name != "\(plural).\(group)" {
            errors.append(FieldError(.invalid, "metadata.name", value: .string(name), "must be spec.names.plural+\".\"+spec.group"))
        }
        switch spec["scope"]?.stringValue {
        case "Namespaced"?: namespaced = true
        case "Cluster"?: namespaced = false
        case let scope:
            namespaced = true
            errors.append(
                scope == nil
                    ? FieldError(.required, "spec.scope", "")
                    : FieldError(.notSupported, "spec.scope", value: .string(scope!), "supported values: \"Cluster\", \"Namespaced\""))
        }
        var versions: [Version] = []
        let versionList = spec["versions"]?.arrayValue ?? []
        if versionList.isEmpty { errors.append(FieldError(.required, "spec.versions", "must have exactly one version marked as storage version")) }
        for (index, entry) in versionList.enumerated() {
            let path = "spec.versions[\(index)]"
            let versionName = entry["name"]?.stringValue ?? ""
            if !ObjectStore.isDNSLabel(versionName) {
                errors.append(FieldError(.invalid, path + ".name", value: .string(versionName), "a DNS-1035 label"))
            } else if versions.contains(where: { $0.name == versionName }) {
                errors.append(FieldError(.duplicate, path + ".name", value: .string(versionName), ""))
            }
            let schemaJSON = entry[path: "schema", "openAPIV3Schema"]
            var schema = StructuralSchema.parse(["type": "object", "x-kubernetes-preserve-unknown-fields": true], path: "", errors: &errors)
            if let schemaJSON {
                schema = StructuralSchema.parse(schemaJSON, path: path + ".schema.openAPIV3Schema", errors: &errors, isRoot: true)
            } else {
                errors.append(FieldError(.required, path + ".schema.openAPIV3Schema", "schemas are required"))
            }
            var columns: [PrinterColumn] = []
            for (columnIndex, column) in (entry["additionalPrinterColumns"]?.arrayValue ?? []).enumerated() {
                let columnPath = "\(path).additionalPrinterColumns[\(columnIndex)]"
                let columnName = column["name"]?.stringValue ?? ""
                let type = column["type"]?.stringValue ?? ""
                if columnName.isEmpty { errors.append(FieldError(.required, columnPath + ".name", "")) }
                if !Self.columnTypes.contains(type) {
                    errors.append(
                        FieldError(
                            .notSupported, columnPath + ".type", value: .string(type),
                            "supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\""))
                }
                do {
                    let columnJSONPath = try ColumnPath(column["jsonPath"]?.stringValue ?? "")
                    columns.append(
                        PrinterColumn(
                            name: columnName, type: type, format: column["format"]?.stringValue ?? "",
                            description: column["description"]?.stringValue ?? "",
                            priority: Int(column["priority"]?.integerValue ?? 0), path: columnJSONPath))
                } catch {
                    errors.append(
                        FieldError(.invalid, columnPath + ".jsonPath", value: column["jsonPath"] ?? .null, "must be a simple json path: \(error)"))
                }
            }
            versions.append(
                Version(
                    name: versionName, served: entry["served"]?.boolValue ?? false, storage: entry["storage"]?.boolValue ?? false,
                    schema: schema, schemaJSON: schemaJSON ?? [:], hasStatusSubresource: entry[path: "subresources", "status"] != nil,
                    printerColumns: columns,
                    selectableFields: (entry["selectableFields"]?.arrayValue ?? []).compactMap {
                        $0["jsonPath"]?.stringValue.map { $0.hasPrefix(".") ? String($0.dropFirst()) : $0 }
                    }))
        }
        if !versionList.isEmpty, versions.filter(\.storage).count != 1 {
            errors.append(
                FieldError(
                    .invalid, "spec.versions", value: .array(versionList.compactMap { $0["name"] }),
                    "must have exactly one version marked as storage version"))
        }
        // Serving several versions means converting between them on every read and write; the
        // simulator does not, and says so rather than keeping each version's objects apart.
        if versions.filter(\.served).count > 1 {
            errors.append(
                FieldError(
                    .forbidden, "spec.versions", "KubeSim serves one version per definition; mark the others served: false"))
        }
        if spec["conversion"]?["strategy"]?.stringValue.map({ $0 != "None" }) ?? false {
            errors.append(
                FieldError(
                    .notSupported, "spec.conversion.strategy", value: spec[path: "conversion", "strategy"], "KubeSim converts with \"None\" only"))
        }
        self.name = name
        self.versions = versions
        if !errors.isEmpty {
            throw FieldError.invalid(errors, kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", name: name)
        }
    }

    /// The API server's defaults for a definition: conversion strategy `None`.
    /// The finalizer the API server puts on every definition: its instances are deleted
    /// before it goes.
    static let cleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io"

    static func defaulted(_ object: JSONValue) -> JSONValue {
        var result = object
        if result[path: "spec", "conversion"] == nil { result = result.setting(path: ["spec", "conversion"], ["strategy": "None"]) }
        return result
    }

    /// A new definition as stored: defaulted, with the cleanup finalizer.
    static func created(_ object: JSONValue) -> JSONValue {
        var result = defaulted(object)
        var finalizers = result[path: "metadata", "finalizers"]?.arrayValue ?? []
        if !finalizers.contains(.string(cleanupFinalizer)) { finalizers.append(.string(cleanupFinalizer)) }
        result = result.setting(path: ["metadata", "finalizers"], .array(finalizers))
        return result
    }

    /// What the API server's CRD controllers write into `status` once the names are accepted.
    func status(current: JSONValue?) -> JSONValue {
        let now = ObjectStore.timestamp()
        func condition(_ type: String, _ reason: String, _ message: String) -> JSONValue {
            let previous = current?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }
            return [
                "type": .string(type), "status": "True", "reason": .string(reason), "message": .string(message),
                "lastTransitionTime": previous?["lastTransitionTime"] ?? .string(now),
            ]
        }
        var accepted: [String: JSONValue] = [
            "plural": .string(plural), "singular": .string(singular), "kind": .string(kind), "listKind": .string(listKind),
        ]
        if !shortNames.isEmpty { accepted["shortNames"] = .array(shortNames.map(JSONValue.string)) }
        if !categories.isEmpty { accepted["categories"] = .array(categories.map(JSONValue.string)) }
        var stored = Set(current?["storedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for version in versions where version.storage { stored.insert(version.name) }
        return [
            "conditions": [
                condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            ],
            "acceptedNames": .object(accepted),
            "storedVersions": .array(stored.sorted().map(JSONValue.string)),
        ]
    }
}
