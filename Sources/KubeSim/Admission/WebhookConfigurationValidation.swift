import Foundation
import KubeModels

/// What `ValidateMutatingWebhookConfiguration` and `ValidateValidatingWebhookConfiguration`
/// refuse (admissionregistration/v1): names, review versions, side effects, timeouts, client
/// configs (https only), rules, policies and match conditions that must compile.
enum WebhookConfigurationValidation {
    static func check(_ object: JSONValue, mutating: Bool) -> [FieldError] {
        var errors: [FieldError] = []
        var names: Set<String> = []
        for (index, webhook) in (object["webhooks"]?.arrayValue ?? []).enumerated() {
            let path = "webhooks[\(index)]"
            let name = webhook["name"]?.stringValue ?? ""
            if name.isEmpty {
                errors.append(FieldError(.required, "\(path).name", ""))
            } else {
                if name.split(separator: ".", omittingEmptySubsequences: false).count < 3 || !ObjectStore.isDNSSubdomain(name) {
                    errors.append(
                        FieldError(
                            .invalid, "\(path).name", value: .string(name), "should be a domain with at least three segments separated by dots"))
                }
                if !names.insert(name).inserted { errors.append(FieldError(.duplicate, "\(path).name", value: .string(name), "")) }
            }
            let versions = webhook["admissionReviewVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if versions.isEmpty {
                errors.append(FieldError(.required, "\(path).admissionReviewVersions", "must specify one of v1, v1beta1"))
            } else if !versions.contains("v1") && !versions.contains("v1beta1") {
                errors.append(
                    FieldError(
                        .invalid, "\(path).admissionReviewVersions", value: webhook["admissionReviewVersions"],
                        "must include at least one of v1, v1beta1"))
            }
            switch webhook["sideEffects"]?.stringValue {
            case nil: errors.append(FieldError(.required, "\(path).sideEffects", "must specify one of None, NoneOnDryRun"))
            case "None", "NoneOnDryRun": break
            case let other?:
                errors.append(FieldError(.notSupported, "\(path).sideEffects", value: .string(other), "supported values: \"None\", \"NoneOnDryRun\""))
            }
            if let timeout = webhook["timeoutSeconds"], !(1...30).contains(timeout.integerValue ?? 0) {
                errors.append(FieldError(.invalid, "\(path).timeoutSeconds", value: timeout, "the timeout value must be between 1 and 30 seconds"))
            }
            errors += oneOf(webhook["failurePolicy"], ["Fail", "Ignore"], "\(path).failurePolicy")
            errors += oneOf(webhook["matchPolicy"], ["Equivalent", "Exact"], "\(path).matchPolicy")
            if mutating { errors += oneOf(webhook["reinvocationPolicy"], ["IfNeeded", "Never"], "\(path).reinvocationPolicy") }
            errors += clientConfig(webhook["clientConfig"], path: "\(path).clientConfig")
            for (ruleIndex, rule) in (webhook["rules"]?.arrayValue ?? []).enumerated() {
                let rulePath = "\(path).rules[\(ruleIndex)]"
                for field in ["apiGroups", "apiVersions", "resources", "operations"] where (rule[field]?.arrayValue ?? []).isEmpty {
                    errors.append(FieldError(.required, "\(rulePath).\(field)", ""))
                }
                for operation in rule["operations"]?.arrayValue ?? [] {
                    errors += oneOf(operation, ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"], "\(rulePath).operations")
                }
                errors += oneOf(rule["scope"], ["*", "Cluster", "Namespaced"], "\(rulePath).scope")
            }
            errors += matchConditions(webhook["matchConditions"]?.arrayValue ?? [], path: "\(path).matchConditions")
        }
        return errors
    }

    static func oneOf(_ value: JSONValue?, _ supported: [String], _ field: String) -> [FieldError] {
        guard let value else { return [] }
        guard let text = value.stringValue, supported.contains(text) else {
            return [FieldError(.notSupported, field, value: value, "supported values: " + supported.map { "\"\($0)\"" }.joined(separator: ", "))]
        }
        return []
    }

    static func clientConfig(_ config: JSONValue?, path: String) -> [FieldError] {
        let url = config?["url"]?.stringValue
        let service = config?["service"]
        switch (url, service) {
        case (nil, nil), (.some, .some): return [FieldError(.required, path, "exactly one of url or service is required")]
        case (let url?, nil):
            guard let parsed = URLComponents(string: url), parsed.host?.isEmpty == false else {
                return [FieldError(.invalid, "\(path).url", value: .string(url), "host must be specified")]
            }
            var errors: [FieldError] = []
            if parsed.scheme?.lowercased() != "https" {
                errors.append(FieldError(.invalid, "\(path).url", value: .string(url), "'https' is the only allowed URL scheme"))
            }
            if parsed.user != nil || parsed.password != nil {
                errors.append(FieldError(.invalid, "\(path).url", value: .string(url), "user information is not permitted in the URL"))
            }
            if parsed.fragment != nil {
                errors.append(FieldError(.invalid, "\(path).url", value: .string(url), "fragments are not permitted in the URL"))
            }
            if parsed.query != nil {
                errors.append(FieldError(.invalid, "\(path).url", value: .string(url), "query parameters are not permitted in the URL"))
            }
            return errors
        case (nil, let service?):
            var errors: [FieldError] = []
            for field in ["namespace", "name"] where (service[field]?.stringValue ?? "").isEmpty {
                errors.append(FieldError(.required, "\(path).service.\(field)", ""))
            }
            if let port = service["port"], !(1...65535).contains(port.integerValue ?? 0) {
                errors.append(FieldError(.invalid, "\(path).service.port", value: port, "port is not valid: must be between 1 and 65535, inclusive"))
            }
            if let servicePath = service["path"]?.stringValue, !servicePath.hasPrefix("/") {
                errors.append(FieldError(.invalid, "\(path).service.path", value: .string(servicePath), "must start with a '/'"))
            }
            return errors
        }
    }

    static let maximumMatchConditions = 64

    static func matchConditions(_ conditions: [JSONValue], path: String) -> [FieldError] {
        var errors: [FieldError] = []
        if conditions.count > maximumMatchConditions {
            errors.append(FieldError(.tooMany, path, value: .integer(Int64(conditions.count)), "must have at most \(maximumMatchConditions) items"))
        }
        var names: Set<String> = []
        for (index, condition) in conditions.enumerated() {
            let name = condition["name"]?.stringValue ?? ""
            if name.isEmpty {
                errors.append(FieldError(.required, "\(path)[\(index)].name", ""))
            } else {
                errors += BuiltInValidation.qualifiedName(name, field: "\(path)[\(index)].name")
                if !names.insert(name).inserted { errors.append(FieldError(.duplicate, "\(path)[\(index)].name", value: .string(name), "")) }
            }
            let expression = condition["expression"]?.stringValue ?? ""
            if expression.isEmpty {
                errors.append(FieldError(.required, "\(path)[\(index)].expression", ""))
            } else {
                do {
                    _ = try MatchCondition(compiling: expression)
                } catch {
                    errors.append(
                        FieldError(.invalid, "\(path)[\(index)].expression", value: .string(expression), "compilation failed: ERROR: \(error)"))
                }
            }
        }
        return errors
    }
}
