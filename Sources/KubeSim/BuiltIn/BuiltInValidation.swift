import KubeModels

/// What the API server's `Validate*` functions refuse in built-in kinds, as 422 field errors:
/// metadata (label and annotation syntax and sizes), ConfigMaps (keys, 1 MiB, immutability),
/// Deployments and ReplicaSets (selector agreeing with the template, immutable selector),
/// Pods (containers, immutable spec), Services (ports, immutable clusterIP), Leases and
/// HorizontalPodAutoscalers.
enum BuiltInValidation {
    static func check(_ object: JSONValue, oldObject: JSONValue?, _ type: ResourceType) throws(Status) {
        var errors = metadata(object)
        switch type {
        case .configMaps: errors += configMap(object, old: oldObject)
        case .deployments, .replicaSets: errors += workload(object, old: oldObject)
        case .pods: errors += pod(object, old: oldObject)
        case .services: errors += service(object, old: oldObject)
        case .leases: errors += lease(object)
        case .horizontalPodAutoscalers: errors += autoscaler(object)
        case .mutatingWebhookConfigurations: errors += WebhookConfigurationValidation.check(object, mutating: true)
        case .validatingWebhookConfigurations: errors += WebhookConfigurationValidation.check(object, mutating: false)
        default: break
        }
        guard !errors.isEmpty else { return }
        throw FieldError.invalid(errors, kind: type.kind, group: type.group, name: object[path: "metadata", "name"]?.stringValue ?? "")
    }

    // MARK: - Metadata

    static let totalAnnotationBytes = 256 * 1024

    static func metadata(_ object: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        for (key, value) in (object[path: "metadata", "labels"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            errors += qualifiedName(key, field: "metadata.labels")
            let text = value.stringValue ?? ""
            if !isLabelValue(text) {
                errors.append(
                    FieldError(
                        .invalid, "metadata.labels", value: value,
                        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
                    ))
            }
        }
        var total = 0
        for (key, value) in (object[path: "metadata", "annotations"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            errors += qualifiedName(key.lowercased(), field: "metadata.annotations")
            total += key.utf8.count + (value.stringValue?.utf8.count ?? 0)
        }
        if total > totalAnnotationBytes {
            errors.append(FieldError(.tooLong, "metadata.annotations", "may not be more than \(totalAnnotationBytes) bytes"))
        }
        return errors
    }

    /// A label or annotation key: an optional DNS subdomain prefix and `/`, then a name of at
    /// most 63 characters.
    static func qualifiedName(_ key: String, field: String) -> [FieldError] {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var problems: [String] = []
        let name: String
        switch parts.count {
        case 1: name = parts[0]
        case 2:
            name = parts[1]
            if parts[0].isEmpty {
                problems.append("prefix part must be non-empty")
            } else if !ObjectStore.isDNSSubdomain(parts[0]) {
                problems.append(
                    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                )
            }
        default:
            return [
                FieldError(
                    .invalid, field, value: .string(key),
                    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character with an optional DNS subdomain prefix and '/'"
                )
            ]
        }
        if name.isEmpty {
            problems.append("name part must be non-empty")
        } else {
            if name.count > 63 { problems.append("name part must be no more than 63 characters") }
            if !isLabelValue(name) {
                problems.append(
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")
            }
        }
        return problems.map { FieldError(.invalid, field, value: .string(key), $0) }
    }

    static func isLabelValue(_ text: String) -> Bool {
        guard !text.isEmpty else { return true }
        guard text.count <= 63, let first = text.first, let last = text.last else { return false }
        let alphanumeric = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber) }
        return alphanumeric(first) && alphanumeric(last) && text.allSatisfy { alphanumeric($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    // MARK: - ConfigMaps

    static let configMapBytes = 1024 * 1024

    static func configMap(_ object: JSONValue, old: JSONValue?) -> [FieldError] {
        var errors: [FieldError] = []
        var total = 0
        let data = object["data"]?.objectValue ?? [:]
        let binary = object["binaryData"]?.objectValue ?? [:]
        for (key, value) in data.sorted(by: { $0.key < $1.key }) {
            if !isConfigKey(key) {
                errors.append(
                    FieldError(.invalid, "data", value: .string(key), "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"))
            }
            if value.stringValue == nil { errors.append(FieldError(.typeInvalid, "data[\(key)]", value: value, "must be a string")) }
            total += value.stringValue?.utf8.count ?? 0
        }
        for (key, value) in binary.sorted(by: { $0.key < $1.key }) {
            if !isConfigKey(key) {
                errors.append(
                    FieldError(
                        .invalid, "binaryData", value: .string(key), "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"))
            }
            if data[key] != nil { errors.append(FieldError(.invalid, "data", value: .string(key), "duplicate of key present in binaryData")) }
            // Stored base64; the limit counts the decoded bytes.
            total += (value.stringValue?.utf8.count ?? 0) * 3 / 4
        }
        if total > configMapBytes { errors.append(FieldError(.tooLong, "", "must have at most \(configMapBytes) bytes")) }
        if let old, old["immutable"]?.boolValue == true {
            if object["data"] != old["data"] || object["binaryData"] != old["binaryData"] {
                errors.append(FieldError(.forbidden, "data", "field is immutable when `immutable` is set"))
            }
            if object["immutable"]?.boolValue != true {
                errors.append(FieldError(.forbidden, "immutable", "field is immutable when `immutable` is set"))
            }
        }
        return errors
    }

    static func isConfigKey(_ key: String) -> Bool {
        !key.isEmpty && key.count <= 253 && key != "." && key != ".."
            && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    // MARK: - Workloads

    static func workload(_ object: JSONValue, old: JSONValue?) -> [FieldError] {
        var errors: [FieldError] = []
        let selector = object[path: "spec", "selector"]
        let templateLabels = object[path: "spec", "template", "metadata", "labels"]?.stringMap ?? [:]
        if let replicas = object[path: "spec", "replicas"]?.integerValue, replicas < 0 {
            errors.append(FieldError(.invalid, "spec.replicas", value: .integer(replicas), "must be greater than or equal to 0"))
        }
        if let selector, selector.objectValue?.isEmpty == false {
            if let parsed = try? LabelSelector(structured: selector) {
                if !parsed.matches(templateLabels) {
                    errors.append(
                        FieldError(
                            .invalid, "spec.template.metadata.labels", value: .object(templateLabels.mapValues(JSONValue.string)),
                            "`selector` does not match template `labels`"))
                }
            } else {
                errors.append(FieldError(.invalid, "spec.selector", value: selector, "invalid label selector"))
            }
        } else {
            errors.append(FieldError(.required, "spec.selector", ""))
            errors.append(FieldError(.invalid, "spec.selector", value: selector ?? .null, "empty selector is invalid for deployment"))
        }
        if let old, let oldSelector = old[path: "spec", "selector"], selector != oldSelector {
            errors.append(FieldError(.invalid, "spec.selector", value: selector ?? .null, "field is immutable"))
        }
        let restartPolicy = object[path: "spec", "template", "spec", "restartPolicy"]?.stringValue ?? "Always"
        if restartPolicy != "Always" {
            errors.append(
                FieldError(.notSupported, "spec.template.spec.restartPolicy", value: .string(restartPolicy), "supported values: \"Always\""))
        }
        errors += containers(object[path: "spec", "template", "spec"], field: "spec.template.spec")
        return errors
    }

    // MARK: - Pods

    static func containers(_ spec: JSONValue?, field: String) -> [FieldError] {
        var errors: [FieldError] = []
        let containers = spec?["containers"]?.arrayValue ?? []
        if containers.isEmpty { errors.append(FieldError(.required, "\(field).containers", "")) }
        var names: Set<String> = []
        for (index, container) in (containers + (spec?["initContainers"]?.arrayValue ?? [])).enumerated() {
            let path = index < containers.count ? "\(field).containers[\(index)]" : "\(field).initContainers[\(index - containers.count)]"
            let name = container["name"]?.stringValue ?? ""
            if name.isEmpty {
                errors.append(FieldError(.required, "\(path).name", ""))
            } else if !ObjectStore.isDNSLabel(name) {
                errors.append(
                    FieldError(
                        .invalid, "\(path).name", value: .string(name),
                        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
                    ))
            } else if !names.insert(name).inserted {
                errors.append(FieldError(.duplicate, "\(path).name", value: .string(name), ""))
            }
            if (container["image"]?.stringValue ?? "").isEmpty { errors.append(FieldError(.required, "\(path).image", "")) }
        }
        return errors
    }

    static func pod(_ object: JSONValue, old: JSONValue?) -> [FieldError] {
        var errors = containers(object["spec"], field: "spec")
        if let old {
            // Only images, activeDeadlineSeconds, added tolerations and terminationGracePeriodSeconds may change.
            func mutable(_ spec: JSONValue?) -> JSONValue {
                var members = spec?.objectValue ?? [:]
                for field in ["containers", "initContainers"] {
                    members[field] = members[field].map { .array(($0.arrayValue ?? []).map { $0.setting("image", nil) }) }
                }
                members["activeDeadlineSeconds"] = nil
                members["tolerations"] = nil
                members["terminationGracePeriodSeconds"] = nil
                return .object(members)
            }
            let oldTolerations = old[path: "spec", "tolerations"]?.arrayValue ?? []
            let newTolerations = object[path: "spec", "tolerations"]?.arrayValue ?? []
            if mutable(object["spec"]) != mutable(old["spec"]) || !oldTolerations.allSatisfy(newTolerations.contains) {
                errors.append(
                    FieldError(
                        .forbidden, "spec",
                        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
                    ))
            }
        }
        return errors
    }

    // MARK: - Services

    static func service(_ object: JSONValue, old: JSONValue?) -> [FieldError] {
        var errors: [FieldError] = []
        let type = object[path: "spec", "type"]?.stringValue ?? "ClusterIP"
        let supported = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
        if !supported.contains(type) {
            errors.append(
                FieldError(
                    .notSupported, "spec.type", value: .string(type),
                    "supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""))
        }
        let ports = object[path: "spec", "ports"]?.arrayValue ?? []
        if type == "ExternalName" {
            if (object[path: "spec", "externalName"]?.stringValue ?? "").isEmpty { errors.append(FieldError(.required, "spec.externalName", "")) }
        } else if ports.isEmpty, object[path: "spec", "clusterIP"]?.stringValue != "None" {
            errors.append(FieldError(.required, "spec.ports", ""))
        }
        var seen: Set<String> = []
        for (index, port) in ports.enumerated() {
            let number = port["port"]?.integerValue ?? 0
            if !(1...65535).contains(number) {
                errors.append(FieldError(.invalid, "spec.ports[\(index)].port", value: .integer(number), "must be between 1 and 65535, inclusive"))
            }
            if ports.count > 1, (port["name"]?.stringValue ?? "").isEmpty { errors.append(FieldError(.required, "spec.ports[\(index)].name", "")) }
            let key = "\(number)/\(port["protocol"]?.stringValue ?? "TCP")"
            if !seen.insert(key).inserted { errors.append(FieldError(.duplicate, "spec.ports[\(index)]", value: .string(key), "")) }
        }
        if let old, let oldIP = old[path: "spec", "clusterIP"]?.stringValue, !oldIP.isEmpty,
            let newIP = object[path: "spec", "clusterIP"]?.stringValue, newIP != oldIP
        {
            errors.append(FieldError(.invalid, "spec.clusterIPs[0]", value: .string(newIP), "may not change once set"))
        }
        return errors
    }

    // MARK: - Leases and autoscalers

    static func lease(_ object: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        if let duration = object[path: "spec", "leaseDurationSeconds"]?.integerValue, duration <= 0 {
            errors.append(FieldError(.invalid, "spec.leaseDurationSeconds", value: .integer(duration), "must be greater than 0"))
        }
        if let transitions = object[path: "spec", "leaseTransitions"]?.integerValue, transitions < 0 {
            errors.append(FieldError(.invalid, "spec.leaseTransitions", value: .integer(transitions), "must be greater than or equal to 0"))
        }
        return errors
    }

    static func autoscaler(_ object: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        for field in ["kind", "name"] where (object[path: "spec", "scaleTargetRef", field]?.stringValue ?? "").isEmpty {
            errors.append(FieldError(.required, "spec.scaleTargetRef.\(field)", ""))
        }
        let maximum = object[path: "spec", "maxReplicas"]?.integerValue ?? 0
        if maximum < 1 { errors.append(FieldError(.invalid, "spec.maxReplicas", value: .integer(maximum), "must be greater than or equal to 1")) }
        if let minimum = object[path: "spec", "minReplicas"]?.integerValue {
            if minimum < 1 { errors.append(FieldError(.invalid, "spec.minReplicas", value: .integer(minimum), "must be greater than or equal to 1")) }
            if minimum > maximum {
                errors.append(FieldError(.invalid, "spec.maxReplicas", value: .integer(maximum), "must be greater than or equal to `minReplicas`"))
            }
        }
        return errors
    }
}
