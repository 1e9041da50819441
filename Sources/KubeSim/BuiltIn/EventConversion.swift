import KubeModels

/// events.k8s.io/v1 Events are core/v1 Events under other field names: the API server stores
/// one object and converts on the way in and out, so an Event written through either API is
/// listed by both (`kubectl get events` and `kubectl events`).
enum EventConversion {
    /// events.k8s.io/v1 field name to core/v1 field name, for the fields that differ.
    static let renamed: [(v1: String, core: String)] = [
        ("regarding", "involvedObject"), ("note", "message"), ("deprecatedCount", "count"), ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
        ("reportingController", "reportingComponent"),
    ]

    /// A core Event as events.k8s.io/v1 shows it.
    static func toV1(_ event: JSONValue) -> JSONValue {
        var members = event.objectValue ?? [:]
        for (v1, core) in renamed {
            let value = members.removeValue(forKey: core)
            if let value, !value.isNull, value != "", value != 0 { members[v1] = value }
        }
        members["apiVersion"] = .string(ResourceType.eventsV1.apiVersion)
        members["kind"] = "Event"
        return .object(members)
    }

    /// An events.k8s.io/v1 Event as it is stored (core/v1).
    static func toCore(_ event: JSONValue) -> JSONValue {
        guard var members = event.objectValue else { return event }
        for (v1, core) in renamed {
            if let value = members.removeValue(forKey: v1) { members[core] = value }
        }
        members["apiVersion"] = "v1"
        members["kind"] = "Event"
        return .object(members)
    }

    /// What ValidateEventCreate checks of an Event written through events.k8s.io/v1.
    static func validateCreate(_ event: JSONValue) throws(Status) {
        var errors: [FieldError] = []
        let name = event[path: "metadata", "name"]?.stringValue ?? ""
        if (event["eventTime"]?.stringValue ?? "").isEmpty { errors.append(FieldError(.required, "eventTime", "")) }
        let type = event["type"]?.stringValue ?? ""
        if type != "Normal", type != "Warning" {
            errors.append(FieldError(.notSupported, "type", value: event["type"] ?? "", "supported values: \"Normal\", \"Warning\""))
        }
        for field in ["deprecatedCount", "deprecatedSource", "deprecatedFirstTimestamp", "deprecatedLastTimestamp"] {
            if let value = event[field], !value.isNull { errors.append(FieldError(.invalid, field, value: value, "needs to be unset")) }
        }
        for field in ["reportingController", "reportingInstance", "action", "reason"] {
            let value = event[field]?.stringValue ?? ""
            if value.isEmpty {
                errors.append(FieldError(.required, field, ""))
            } else if value.utf8.count > 128 {
                errors.append(FieldError(.tooLong, field, value: event[field], "may not be more than 128 bytes"))
            }
        }
        if let note = event["note"]?.stringValue, note.utf8.count > 1024 {
            errors.append(FieldError(.tooLong, "note", value: event["note"], "may not be more than 1024 bytes"))
        }
        if !errors.isEmpty { throw FieldError.invalid(errors, kind: "Event", group: "events.k8s.io", name: name) }
    }
}
