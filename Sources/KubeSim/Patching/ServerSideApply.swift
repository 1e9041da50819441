import Foundation
import KubeModels

/// Server-side apply and field ownership (`metadata.managedFields`), as the API server's field
/// manager keeps them (`k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager`, structured-merge-diff):
///
/// - An apply by a manager sets the fields its configuration names, merged into the object
///   (maps by key, lists by their merge key, sets of scalars as sets, other lists whole); a field
///   another manager owns with a different value is a 409 conflict naming both, unless `force`,
///   which takes the field over; a field the manager applied before and no longer sends is
///   removed, unless another manager owns it too.
/// - Any other write (create, update, patch) gives its manager the fields it changed and takes
///   them from everyone else, without conflicts.
enum ServerSideApply {
    struct Entry: Sendable, Hashable {
        var manager: String
        var operation: String
        var apiVersion: String
        var time: String
        var fields: FieldSet
        var subresource: String?

        var json: JSONValue {
            var entry: [String: JSONValue] = [
                "manager": .string(manager), "operation": .string(operation), "apiVersion": .string(apiVersion), "time": .string(time),
                "fieldsType": "FieldsV1", "fieldsV1": fields.fieldsV1,
            ]
            if let subresource { entry["subresource"] = .string(subresource) }
            return .object(entry)
        }

        init(manager: String, operation: String, apiVersion: String, time: String, fields: FieldSet, subresource: String? = nil) {
            self.manager = manager
            self.operation = operation
            self.apiVersion = apiVersion
            self.time = time
            self.fields = fields
            self.subresource = subresource
        }

        init?(_ json: JSONValue) {
            guard let manager = json["manager"]?.stringValue, let operation = json["operation"]?.stringValue else { return nil }
            self.init(
                manager: manager, operation: operation, apiVersion: json["apiVersion"]?.stringValue ?? "", time: json["time"]?.stringValue ?? "",
                fields: FieldSet(fieldsV1: json["fieldsV1"] ?? [:]), subresource: json["subresource"]?.stringValue)
        }
    }

    static func entries(_ object: JSONValue) -> [Entry] {
        (object[path: "metadata", "managedFields"]?.arrayValue ?? []).compactMap(Entry.init)
    }

    static func storing(_ entries: [Entry], in object: JSONValue) -> JSONValue {
        let kept = entries.filter { !$0.fields.paths.isEmpty }
        return object.setting("metadata", (object["metadata"] ?? [:]).setting("managedFields", kept.isEmpty ? nil : .array(kept.map(\.json))))
    }

    /// The manager of a write that names none: the User-Agent up to its first `/`, as the API
    /// server derives it.
    static func manager(query: String?, userAgent: String?) throws(Status) -> String {
        let manager = query ?? String((userAgent ?? "unknown").split(separator: "/").first ?? "unknown")
        guard manager.count <= 128 else {
            throw Status.failure(422, .invalid, "fieldManager: Too long: may not be more than 128 bytes")
        }
        return manager
    }

    /// The object after an apply of `configuration` by `manager` to `current`.
    static func apply(
        _ configuration: JSONValue, to current: JSONValue, manager: String, force: Bool, schema: PatchSchema?, apiVersion: String
    ) throws(Status) -> JSONValue {
        if let problem = associativeListProblem(configuration, schema: schema, path: "") {
            throw Status.failure(422, .invalid, "failed to create typed patch object: \(problem)")
        }
        let applied = FieldSet(of: configuration, schema: schema)
        var entries = entries(current)
        // Conflicts: fields other managers own whose value the configuration changes.
        var conflicts: [(manager: String, apiVersion: String, path: [String])] = []
        for entry in entries where !(entry.manager == manager && entry.operation == "Apply") && entry.subresource == nil {
            for path in entry.fields.paths.intersection(applied.paths).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let before = FieldSet.value(at: path, in: current)
                let after = FieldSet.value(at: path, in: configuration)
                if isLeafDifferent(before, after) { conflicts.append((entry.manager, entry.apiVersion, path)) }
            }
        }
        if !conflicts.isEmpty, !force { throw conflict(conflicts) }
        if force {
            let taken = Set(conflicts.map(\.path))
            for index in entries.indices where !(entries[index].manager == manager && entries[index].operation == "Apply") {
                entries[index].fields.paths.subtract(taken)
            }
        }
        var result = merge(current, configuration, schema: schema)
        // What this manager applied before and no longer sends goes, unless someone else owns it.
        let previous = entries.first { $0.manager == manager && $0.operation == "Apply" && $0.subresource == nil }?.fields ?? FieldSet()
        let othersOwn = entries.filter { !($0.manager == manager && $0.operation == "Apply") }.reduce(into: Set<[String]>()) {
            $0.formUnion($1.fields.paths)
        }
        let dropped = previous.paths.subtracting(applied.paths).subtracting(othersOwn)
        for path in dropped.sorted(by: { $0.count > $1.count })
        where !dropped.contains(where: { $0.count < path.count && Array(path.prefix($0.count)) == $0 }) {
            result = FieldSet.removing(path, from: result)
        }
        entries.removeAll { $0.manager == manager && $0.operation == "Apply" && $0.subresource == nil }
        entries.append(Entry(manager: manager, operation: "Apply", apiVersion: apiVersion, time: ObjectStore.timestamp(), fields: applied))
        return storing(entries, in: result)
    }

    /// The managed fields after a write that is not an apply: the manager takes what it changed.
    static func update(
        _ object: JSONValue, from old: JSONValue?, manager: String, schema: PatchSchema?, apiVersion: String, subresource: String? = nil
    )
        -> JSONValue
    {
        // A client that sends managedFields of its own replaces them (an empty list clears them).
        var entries = entries(old ?? [:])
        if let sent = object[path: "metadata", "managedFields"], sent != old?[path: "metadata", "managedFields"] {
            entries = (sent.arrayValue ?? []).compactMap(Entry.init)
        }
        let newFields = FieldSet(of: object, schema: schema)
        let oldFields = old.map { FieldSet(of: $0, schema: schema) } ?? FieldSet()
        let changed = Set(
            newFields.paths.filter { path in old.map { FieldSet.value(at: path, in: $0) != FieldSet.value(at: path, in: object) } ?? true })
        let removed = oldFields.paths.subtracting(newFields.paths)
        for index in entries.indices {
            entries[index].fields.paths.subtract(removed)
            if entries[index].manager != manager || entries[index].operation != "Update" { entries[index].fields.paths.subtract(changed) }
        }
        if !changed.isEmpty {
            if let index = entries.firstIndex(where: { $0.manager == manager && $0.operation == "Update" && $0.subresource == subresource }) {
                entries[index].fields.paths.formUnion(changed)
                entries[index].time = ObjectStore.timestamp()
            } else {
                entries.append(
                    Entry(
                        manager: manager, operation: "Update", apiVersion: apiVersion, time: ObjectStore.timestamp(), fields: FieldSet(changed),
                        subresource: subresource))
            }
        }
        return storing(entries, in: object)
    }

    /// Why a configuration cannot be read with the schema: an element of a keyed list without its
    /// key, or two with the same key (structured-merge-diff refuses both).
    static func associativeListProblem(_ value: JSONValue, schema: PatchSchema?, path: String) -> String? {
        switch value {
        case .object(let members):
            for key in members.keys.sorted() {
                if let problem = associativeListProblem(members[key]!, schema: schema?.fields[key], path: "\(path).\(key)") { return problem }
            }
        case .array(let elements):
            guard case .merge(let mergeKey)? = schema?.list else { return nil }
            var seen: Set<JSONValue> = []
            for (index, element) in elements.enumerated() {
                guard let key = element[mergeKey] else {
                    return "\(path): element \(index): associative list with keys has an element that omits key field \"\(mergeKey)\""
                }
                if !seen.insert(key).inserted { return "\(path): duplicate entries for key [\(mergeKey)=\(FieldSet.encoded(key))]" }
                if let problem = associativeListProblem(element, schema: schema?.items, path: "\(path)[\(mergeKey)=\(FieldSet.encoded(key))]") {
                    return problem
                }
            }
        default: break
        }
        return nil
    }

    /// Two values at a field differ for ownership when both are leaves and unequal (a list
    /// element or a map both sides have is not itself a conflict; its fields are).
    private static func isLeafDifferent(_ before: JSONValue?, _ after: JSONValue?) -> Bool {
        if case .object? = before, case .object? = after { return false }
        return before != after
    }

    private static func conflict(_ conflicts: [(manager: String, apiVersion: String, path: [String])]) -> Status {
        func field(_ path: [String]) -> String {
            path.map { element -> String in
                if element.hasPrefix("f:") { return "." + element.dropFirst(2) }
                if element.hasPrefix("k:") {
                    return "["
                        + element.dropFirst(2).replacingOccurrences(of: "\"", with: "").replacingOccurrences(of: ":", with: "=").dropFirst()
                        .dropLast() + "]"
                }
                return "[=" + element.dropFirst(2) + "]"
            }.joined()
        }
        let byManager = Dictionary(grouping: conflicts) { "conflict with \"\($0.manager)\" using \($0.apiVersion)" }
        let lines = byManager.keys.sorted().map { heading in
            let fields = byManager[heading]!.map { field($0.path) }
            return fields.count == 1
                ? "\(heading): \(fields[0])"
                : "\(heading.replacingOccurrences(of: "conflict with", with: "conflicts with")):\n" + fields.map { "- \($0)" }.joined(separator: "\n")
        }
        let count = conflicts.count
        let message = "Apply failed with \(count) conflict\(count == 1 ? "" : "s"): " + lines.joined(separator: "\n")
        return Status.failure(
            409, .conflict, message,
            details: .init(
                causes: conflicts.map {
                    .init(reason: "FieldManagerConflict", message: "conflict with \"\($0.manager)\" using \($0.apiVersion)", field: field($0.path))
                }))
    }

    /// An apply configuration merged into the object: maps by key, keyed lists by key, sets of
    /// scalars as sets, everything else replaced.
    static func merge(_ current: JSONValue?, _ applied: JSONValue, schema: PatchSchema?) -> JSONValue {
        switch (current, applied) {
        case (.object(let old)?, .object(let new)):
            var result = old
            for (key, value) in new { result[key] = merge(old[key], value, schema: schema?.fields[key]) }
            return .object(result)
        case (.array(let old)?, .array(let new)):
            switch schema?.list {
            case .merge(let mergeKey)?:
                var result = old
                for element in new {
                    if let index = result.firstIndex(where: { $0[mergeKey] != nil && $0[mergeKey] == element[mergeKey] }) {
                        result[index] = merge(result[index], element, schema: schema?.items)
                    } else {
                        result.append(element)
                    }
                }
                return .array(result)
            case .mergePrimitives?:
                return .array(old + new.filter { !old.contains($0) })
            default:
                return applied
            }
        default:
            return applied
        }
    }
}
