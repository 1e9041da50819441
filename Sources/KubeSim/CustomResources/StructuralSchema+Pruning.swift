import KubeModels

extension StructuralSchema {
    /// The fields of `metadata` the API server keeps (ObjectMeta); others are dropped on decoding.
    static let objectMetaFields: Set<String> = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
        "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields",
    ]

    /// The fields an embedded resource's `metadata` keeps (`x-kubernetes-embedded-resource`).
    static let embeddedMetaFields: Set<String> = ["name", "namespace", "generateName", "labels", "annotations", "finalizers"]

    /// Drops every field the schema does not specify, as the API server prunes a custom resource
    /// on each write; the dropped fields' paths go to `unknown` (for `fieldValidation`).
    ///
    /// Fields under `x-kubernetes-preserve-unknown-fields` or an `additionalProperties` schema are
    /// kept; at the root (and in embedded resources) `apiVersion`, `kind` and `metadata` always are,
    /// `metadata` cut to ObjectMeta's fields.
    func pruned(_ value: JSONValue, path: String = "", unknown: inout [String], isRoot: Bool = false) -> JSONValue {
        switch value {
        case .object(let members):
            var kept: [String: JSONValue] = [:]
            for (name, member) in members {
                let memberPath = Self.join(path, name)
                if (isRoot || embeddedResource) && (name == "apiVersion" || name == "kind") {
                    kept[name] = member
                } else if (isRoot || embeddedResource) && name == "metadata", case .object(let metadata) = member {
                    let allowed = isRoot ? Self.objectMetaFields : Self.embeddedMetaFields
                    var meta: [String: JSONValue] = [:]
                    for (field, fieldValue) in metadata {
                        if allowed.contains(field) { meta[field] = fieldValue } else { unknown.append("\(memberPath).\(field)") }
                    }
                    kept[name] = .object(meta)
                } else if let schema = properties[name] {
                    kept[name] = schema.pruned(member, path: memberPath, unknown: &unknown)
                } else if case .schema(let schema) = additionalProperties {
                    kept[name] = schema.pruned(member, path: memberPath, unknown: &unknown)
                } else if preservesUnknownFields || additionalProperties.allowsAny {
                    kept[name] = member
                } else {
                    unknown.append(memberPath)
                }
            }
            return .object(kept)
        case .array(let elements):
            guard let items else { return value }
            return .array(elements.enumerated().map { index, element in items.pruned(element, path: "\(path)[\(index)]", unknown: &unknown) })
        default:
            return value
        }
    }

    /// Fills in `default` values where a field is missing, as the API server defaults a custom
    /// resource on each write. A `null` where the schema is not `nullable` is dropped first, so
    /// that a default replaces it (apiextensions since Kubernetes 1.20).
    func defaulted(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(var members):
            for (name, schema) in properties {
                if members[name] == .null, !schema.nullable { members[name] = nil }
                if members[name] == nil, let defaultValue = schema.defaultValue { members[name] = defaultValue }
                if let member = members[name] { members[name] = schema.defaulted(member) }
            }
            if case .schema(let schema) = additionalProperties {
                for (name, member) in members { members[name] = schema.defaulted(member) }
            }
            return .object(members)
        case .array(let elements):
            guard let items else { return value }
            return .array(elements.map { items.defaulted($0) })
        default:
            return value
        }
    }
}
