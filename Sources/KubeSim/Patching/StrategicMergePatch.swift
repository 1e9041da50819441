import KubeModels

/// Strategic merge patch (`application/strategic-merge-patch+json`) as the API server applies
/// it to built-in kinds (apimachinery's `strategicpatch`): maps merge and `null` deletes;
/// lists merge by their merge key, union as sets, or are replaced, as the kind's
/// ``PatchSchema`` says; and the directives `$patch` (`replace`, `delete`, `merge`),
/// `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>` are honoured.
///
/// `kubectl apply` of a changed built-in object sends such a patch, with only the changed
/// elements of merging lists: replacing those lists instead would drop the other elements' fields.
enum StrategicMergePatch {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func apply(_ patch: JSONValue, to original: JSONValue, schema: PatchSchema) throws(Failure) -> JSONValue {
        guard case .object(let members) = patch else { throw Failure(description: "the patch is not a JSON object") }
        return try merge(original.objectValue, members, schema: schema) ?? .object([:])
    }

    private static let setElementOrder = "$setElementOrder/"
    private static let deleteFromPrimitiveList = "$deleteFromPrimitiveList/"

    /// Merges a patch map into an original map; nil means the map is deleted (`$patch: delete`).
    private static func merge(_ original: [String: JSONValue]?, _ patch: [String: JSONValue], schema: PatchSchema?) throws(Failure) -> JSONValue? {
        switch patch["$patch"]?.stringValue {
        case "delete"?: return nil
        case "replace"?: return stripped(.object(patch))
        case nil, "merge"?: break
        case let other?: throw Failure(description: "unknown patch type: \(other) in map")
        }
        var result = original ?? [:]
        // Honoured wherever it appears, as apimachinery does; kubectl sends it only for maps whose
        // strategy is retainKeys (a Deployment's strategy, a volume).
        if let retained = patch["$retainKeys"] {
            guard let list = retained.arrayValue else { throw Failure(description: "$retainKeys must be a list of strings") }
            let keys = list.compactMap(\.stringValue)
            guard keys.count == list.count else { throw Failure(description: "$retainKeys must be a list of strings") }
            // A field being cleared (null) need not be listed.
            for (key, value) in patch where !key.hasPrefix("$") && value != .null && !keys.contains(key) {
                throw Failure(description: "all fields in the patch must be listed in $retainKeys: \(key) is not")
            }
            result = result.filter { keys.contains($0.key) }
        }
        for (key, value) in patch where key.hasPrefix(deleteFromPrimitiveList) {
            let field = String(key.dropFirst(deleteFromPrimitiveList.count))
            guard let removed = value.arrayValue else { throw Failure(description: "\(key) must be a list") }
            if let elements = result[field]?.arrayValue { result[field] = .array(elements.filter { !removed.contains($0) }) }
        }
        for (key, value) in patch where !key.hasPrefix("$") {
            let field = schema?.fields[key]
            switch value {
            case .null:
                result[key] = nil
            case .object(let members):
                result[key] = try merge(result[key]?.objectValue, members, schema: field)
            case .array(let elements):
                result[key] = try mergeList(result[key]?.arrayValue, elements, schema: field)
            default:
                result[key] = value
            }
        }
        for (key, value) in patch where key.hasPrefix(setElementOrder) {
            let field = String(key.dropFirst(setElementOrder.count))
            guard let order = value.arrayValue else { throw Failure(description: "\(key) must be a list") }
            if let elements = result[field]?.arrayValue {
                result[field] = .array(ordered(elements, by: order, schema: schema?.fields[field]))
            }
        }
        return .object(result)
    }

    private static func mergeList(_ original: [JSONValue]?, _ patch: [JSONValue], schema: PatchSchema?) throws(Failure) -> JSONValue {
        // `{"$patch": "replace"}` among the elements replaces the list with the other elements.
        if patch.contains(where: { $0["$patch"]?.stringValue == "replace" }) {
            return .array(patch.filter { $0["$patch"]?.stringValue != "replace" }.map(stripped))
        }
        switch schema?.list ?? .replace {
        case .replace:
            return .array(patch.map(stripped))
        case .mergePrimitives:
            var result = original ?? []
            for element in patch where !result.contains(element) { result.append(element) }
            return .array(result)
        case .merge(let mergeKey):
            var result = original ?? []
            for element in patch {
                guard case .object(let members) = element else {
                    // A merging list of scalars is a set union, as for primitives.
                    if !result.contains(element) { result.append(element) }
                    continue
                }
                guard let key = members[mergeKey] else {
                    throw Failure(description: "map: \(describe(element)) does not contain declared merge key: \(mergeKey)")
                }
                let index = result.firstIndex { $0[mergeKey] == key }
                if members["$patch"]?.stringValue == "delete" {
                    result.removeAll { $0[mergeKey] == key }
                    continue
                }
                let merged = try merge(index.flatMap { result[$0].objectValue }, members, schema: schema?.items)
                if let index {
                    if let merged { result[index] = merged } else { result.remove(at: index) }
                } else if let merged {
                    result.append(merged)
                }
            }
            return .array(result)
        }
    }

    /// Orders a merged list as `$setElementOrder` says: the listed elements in that order, then
    /// the ones the patch did not list (elements only the server had) in their order.
    private static func ordered(_ elements: [JSONValue], by order: [JSONValue], schema: PatchSchema?) -> [JSONValue] {
        func identity(_ element: JSONValue) -> JSONValue {
            if case .merge(let key) = schema?.list ?? .replace, let value = element[key] { return value }
            return element
        }
        let positions = order.map(identity)
        let listed = elements.filter { positions.contains(identity($0)) }.sorted {
            (positions.firstIndex(of: identity($0)) ?? 0) < (positions.firstIndex(of: identity($1)) ?? 0)
        }
        return listed + elements.filter { !positions.contains(identity($0)) }
    }

    /// A value with every directive removed (what a new element or a replacement stores).
    static func stripped(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, member) in members where !key.hasPrefix("$") { result[key] = stripped(member) }
            return .object(result)
        case .array(let elements):
            return .array(elements.map(stripped))
        default:
            return value
        }
    }

    private static func describe(_ value: JSONValue) -> String {
        (try? value.encoded()).map { String(decoding: $0, as: UTF8.self) } ?? "?"
    }
}
