import KubeModels

/// A set of field paths as server-side apply tracks ownership (`FieldsV1`): `f:<name>` for a
/// map member, `k:{"name":"c"}` for an element of a list merged by key, `v:<json>` for an
/// element of a set of scalars. A path is owned whole; a list that is neither is atomic and owned
/// as one field.
struct FieldSet: Sendable, Hashable {
    var paths: Set<[String]>

    init(_ paths: Set<[String]> = []) {
        self.paths = paths
    }

    /// Fields no manager owns: identity and server-set metadata, and the status (which writes
    /// to the main resource do not change).
    static let ignoredTop: Set<String> = ["apiVersion", "kind", "status"]
    static let ignoredMetadata: Set<String> = [
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "deletionTimestamp",
        "deletionGracePeriodSeconds", "selfLink",
    ]

    /// Every leaf of `object` (lists by the schema's merge strategy).
    init(of object: JSONValue, schema: PatchSchema?) {
        var paths: Set<[String]> = []
        for (key, value) in object.objectValue ?? [:] where !Self.ignoredTop.contains(key) {
            if key == "metadata" {
                for (field, member) in value.objectValue ?? [:] where !Self.ignoredMetadata.contains(field) {
                    Self.collect(member, schema: schema?.fields["metadata"]?.fields[field], prefix: ["f:metadata", "f:\(field)"], into: &paths)
                }
            } else {
                Self.collect(value, schema: schema?.fields[key], prefix: ["f:\(key)"], into: &paths)
            }
        }
        self.paths = paths
    }

    private static func collect(_ value: JSONValue, schema: PatchSchema?, prefix: [String], into paths: inout Set<[String]>) {
        switch value {
        case .object(let members) where !members.isEmpty:
            for (key, member) in members { collect(member, schema: schema?.fields[key], prefix: prefix + ["f:\(key)"], into: &paths) }
        case .array(let elements):
            switch schema?.list {
            case .merge(let mergeKey)?:
                for element in elements {
                    guard let key = itemKey(element, mergeKey: mergeKey) else { continue }
                    let itemPath = prefix + [key]
                    paths.insert(itemPath)
                    for (field, member) in element.objectValue ?? [:] where field != mergeKey {
                        collect(member, schema: schema?.items?.fields[field], prefix: itemPath + ["f:\(field)"], into: &paths)
                    }
                }
            case .mergePrimitives?:
                for element in elements { paths.insert(prefix + ["v:" + encoded(element)]) }
            default:
                paths.insert(prefix)
            }
        default:
            paths.insert(prefix)
        }
    }

    static func itemKey(_ element: JSONValue, mergeKey: String) -> String? {
        guard let value = element[mergeKey] else { return nil }
        return "k:" + encoded([mergeKey: value])
    }

    static func encoded(_ value: JSONValue) -> String {
        (try? value.encoded()).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    func contains(_ path: [String]) -> Bool { paths.contains(path) }

    // MARK: - FieldsV1

    /// The `fieldsV1` trie: each path a chain of nested objects; a node that is owned itself
    /// and has children carries `".": {}`.
    var fieldsV1: JSONValue {
        var root: JSONValue = [:]
        for path in paths {
            root = Self.inserting(
                path[...], into: root,
                hasChildren: { prefix in paths.contains { $0.count > prefix.count && Array($0.prefix(prefix.count)) == prefix } })
        }
        return root
    }

    private static func inserting(_ path: ArraySlice<String>, into node: JSONValue, full: [String] = [], hasChildren: ([String]) -> Bool) -> JSONValue
    {
        guard let first = path.first else { return node }
        let current = full + [first]
        var child = node[first] ?? [:]
        if path.count == 1 {
            if hasChildren(current) { child = child.setting(".", [:]) }
        } else {
            child = inserting(path.dropFirst(), into: child, full: current, hasChildren: hasChildren)
        }
        return node.setting(first, child)
    }

    init(fieldsV1: JSONValue) {
        var paths: Set<[String]> = []
        func walk(_ node: JSONValue, _ prefix: [String]) {
            let members = node.objectValue ?? [:]
            if !prefix.isEmpty, members.isEmpty || members["."] != nil { paths.insert(prefix) }
            for (key, child) in members where key != "." { walk(child, prefix + [key]) }
        }
        walk(fieldsV1, [])
        self.paths = paths
    }

    // MARK: - Values

    /// The value at a path of `object`; nil when it is absent.
    static func value(at path: [String], in object: JSONValue) -> JSONValue? {
        var current: JSONValue? = object
        for element in path {
            guard let node = current else { return nil }
            if element.hasPrefix("f:") {
                current = node[String(element.dropFirst(2))]
            } else if element.hasPrefix("k:") {
                let key = (try? JSONValue.parse(Array(element.dropFirst(2).utf8)))?.objectValue ?? [:]
                current = node.arrayValue?.first { item in key.allSatisfy { item[$0.key] == $0.value } }
            } else if element.hasPrefix("v:") {
                let wanted = try? JSONValue.parse(Array(element.dropFirst(2).utf8))
                current = node.arrayValue?.contains { $0 == wanted } == true ? wanted : nil
            } else {
                return nil
            }
        }
        return current
    }

    /// `object` without the value at `path` (a list element removed from its list).
    static func removing(_ path: [String], from object: JSONValue) -> JSONValue {
        guard let first = path.first else { return object }
        let rest = Array(path.dropFirst())
        if first.hasPrefix("f:") {
            let name = String(first.dropFirst(2))
            guard var members = object.objectValue, let child = members[name] else { return object }
            members[name] = rest.isEmpty ? nil : removing(rest, from: child)
            return .object(members)
        }
        guard var elements = object.arrayValue else { return object }
        if first.hasPrefix("k:") {
            let key = (try? JSONValue.parse(Array(first.dropFirst(2).utf8)))?.objectValue ?? [:]
            guard let index = elements.firstIndex(where: { item in key.allSatisfy { item[$0.key] == $0.value } }) else { return object }
            if rest.isEmpty { elements.remove(at: index) } else { elements[index] = removing(rest, from: elements[index]) }
        } else if first.hasPrefix("v:") {
            let wanted = try? JSONValue.parse(Array(first.dropFirst(2).utf8))
            elements.removeAll { $0 == wanted }
        }
        return .array(elements)
    }
}
