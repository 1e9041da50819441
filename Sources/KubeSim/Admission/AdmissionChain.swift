import AsyncHTTPClient
import Foundation
import KubeModels
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// Calls admission webhooks as the API server does.
///
/// Mutating webhooks first, configurations in name order: each webhook whose rules, namespace
/// selector, object selector and `matchConditions` match gets an `admission.k8s.io/v1`
/// AdmissionReview over HTTPS (verified against its `caBundle`, within its `timeoutSeconds`)
/// carrying the request's uid, `object`, `oldObject` (DELETE sends only `oldObject`) and
/// `options`. The answer must be an AdmissionReview v1 with the same uid, and a patch must
/// come with `patchType: JSONPatch`; anything else is a failed call, which `failurePolicy`
/// decides. A webhook with `reinvocationPolicy: IfNeeded` is called once more when a later
/// webhook changed the object. A denial without a code is 400. Knative's own validation of
/// `config-features` runs for Knative Services after the mutating webhooks; validating
/// webhooks run after the object passed validation (``validate(_:_:namespace:object:oldObject:dryRun:)``).
struct AdmissionChain: Sendable {
    let store: ObjectStore
    /// Resolves a webhook's `service` reference (`namespace/name`) to `host:port`.
    let endpoint: @Sendable (String) -> String?
    let logger: Logger

    enum Operation: String {
        case create = "CREATE"
        case update = "UPDATE"
        case delete = "DELETE"

        var optionsKind: String {
            switch self {
            case .create: "CreateOptions"
            case .update: "UpdateOptions"
            case .delete: "DeleteOptions"
            }
        }
    }

    struct Result {
        var object: JSONValue
        var warnings: [String]
    }

    /// A refused request, with the warnings given before the refusal (the API server sends both).
    struct Refusal: Error {
        var status: Status
        var warnings: [String]
    }

    /// One admission request as the webhooks see it.
    struct Attributes {
        var operation: Operation
        var type: ResourceType
        var namespace: String?
        var object: JSONValue?
        var oldObject: JSONValue?
        var dryRun: Bool
        /// Who made the request (the review's `userInfo`).
        var user: UserInfo = .admin

        var name: String? {
            (object ?? oldObject)?[path: "metadata", "name"]?.stringValue
        }

        var options: JSONValue {
            var options: [String: JSONValue] = ["kind": .string(operation.optionsKind), "apiVersion": "meta.k8s.io/v1"]
            if dryRun { options["dryRun"] = ["All"] }
            return .object(options)
        }
    }

    /// The mutating webhooks (and Knative's validation of its feature flags).
    func admit(
        _ operation: Operation, _ type: ResourceType, namespace: String?, object: JSONValue?, oldObject: JSONValue?, dryRun: Bool,
        user: UserInfo = .admin
    ) async throws(Refusal) -> Result {
        var warnings: [String] = []
        let attributes = Attributes(
            operation: operation, type: type, namespace: namespace, object: object, oldObject: oldObject, dryRun: dryRun, user: user)
        do {
            return try await mutate(attributes, warnings: &warnings)
        } catch {
            throw Refusal(status: error, warnings: warnings)
        }
    }

    /// The validating webhooks, on the object as it is about to be stored; their warnings.
    func validate(
        _ operation: Operation, _ type: ResourceType, namespace: String?, object: JSONValue?, oldObject: JSONValue?, dryRun: Bool,
        user: UserInfo = .admin
    ) async throws(Refusal) -> [String] {
        var warnings: [String] = []
        let attributes = Attributes(
            operation: operation, type: type, namespace: namespace, object: object, oldObject: oldObject, dryRun: dryRun, user: user)
        do {
            for webhook in try webhooks(.validatingWebhookConfigurations) {
                _ = try await invoke(webhook, attributes, warnings: &warnings, mutating: false)
            }
            return warnings
        } catch {
            throw Refusal(status: error, warnings: warnings)
        }
    }

    /// Every webhook of a kind of configuration, configurations in name order (as the API
    /// server's webhook source sorts them).
    private func webhooks(_ type: ResourceType) throws(Status) -> [JSONValue] {
        let configurations = (try? store.list(type).items) ?? []
        return configurations.sorted { ($0[path: "metadata", "name"]?.stringValue ?? "") < ($1[path: "metadata", "name"]?.stringValue ?? "") }
            .flatMap { $0["webhooks"]?.arrayValue ?? [] }
    }

    private func mutate(_ attributes: Attributes, warnings: inout [String]) async throws(Status) -> Result {
        var current = attributes
        // IfNeeded webhooks that were called, with the object as they left it.
        var reinvocable: [(webhook: JSONValue, after: JSONValue?)] = []
        for webhook in try webhooks(.mutatingWebhookConfigurations) {
            guard try await invoke(webhook, current, warnings: &warnings, mutating: true, into: &current.object) else { continue }
            if webhook["reinvocationPolicy"]?.stringValue == "IfNeeded" { reinvocable.append((webhook, current.object)) }
        }
        // Called once more when a later webhook changed what they saw.
        for (webhook, after) in reinvocable where after != current.object {
            _ = try await invoke(webhook, current, warnings: &warnings, mutating: true, into: &current.object)
        }
        if current.type == .knativeServices, current.operation != .delete, let object = current.object { try validateKnativeFeatures(object) }
        return Result(object: current.object ?? .null, warnings: warnings)
    }

    /// Calls one webhook if it matches; returns whether it was called.
    @discardableResult
    private func invoke(_ webhook: JSONValue, _ attributes: Attributes, warnings: inout [String], mutating: Bool) async throws(Status) -> Bool {
        var ignored = attributes.object
        return try await invoke(webhook, attributes, warnings: &warnings, mutating: mutating, into: &ignored)
    }

    private func invoke(
        _ webhook: JSONValue, _ attributes: Attributes, warnings: inout [String], mutating: Bool, into object: inout JSONValue?
    ) async throws(Status) -> Bool {
        let name = webhook["name"]?.stringValue ?? "unnamed"
        let failurePolicy = webhook["failurePolicy"]?.stringValue ?? "Fail"
        do {
            guard try matches(webhook, attributes) else { return false }
        } catch let error as MatchCondition.EvaluationError {
            if failurePolicy == "Ignore" { return false }
            throw Status.failure(
                500, .internalError, "Internal error occurred: failed calling webhook \"\(name)\": failed to evaluate match condition: \(error)")
        } catch let status as Status {
            throw status
        } catch {
            throw Status.failure(500, .internalError, "\(error)")
        }
        let sideEffects = webhook["sideEffects"]?.stringValue ?? "Unknown"
        if attributes.dryRun, sideEffects != "None", sideEffects != "NoneOnDryRun" {
            throw Status.failure(400, .badRequest, "admission webhook \"\(name)\" does not support dry run")
        }
        do {
            let answer = try await call(webhook, name: name, attributes)
            warnings += answer.warnings
            if !answer.allowed {
                let code = answer.status?["code"]?.integerValue.flatMap { $0 == 0 ? nil : Int($0) } ?? 400
                let message =
                    answer.status?["message"]?.stringValue.map { "admission webhook \"\(name)\" denied the request: \($0)" }
                    ?? "admission webhook \"\(name)\" denied the request without explanation"
                throw Status(status: "Failure", message: message, reason: answer.status?["reason"]?.stringValue ?? "", code: code)
            }
            // Only mutating webhooks' patches are applied; a validating webhook's is ignored.
            if mutating, let patch = answer.patch, let current = object {
                object = try apply(patch, to: current, webhook: name)
            }
        } catch let status as Status {
            throw status
        } catch {
            if failurePolicy == "Ignore" {
                logger.warning("admission webhook failed and is ignored", metadata: ["webhook": "\(name)", "error": "\(error)"])
                return true
            }
            throw Status.failure(500, .internalError, "Internal error occurred: failed calling webhook \"\(name)\": \(error)")
        }
        return true
    }

    // MARK: - Matching

    private func matches(_ webhook: JSONValue, _ attributes: Attributes) throws -> Bool {
        let type = attributes.type
        let rules = webhook["rules"]?.arrayValue ?? []
        let ruleMatches = rules.contains { rule in
            func contains(_ key: String, _ value: String) -> Bool {
                let list = rule[key]?.arrayValue?.compactMap(\.stringValue) ?? []
                return list.contains("*") || list.contains(value)
            }
            let scope = rule["scope"]?.stringValue ?? "*"
            let scopeMatches = scope == "*" || (scope == "Namespaced") == type.namespaced
            return contains("apiGroups", type.group) && contains("apiVersions", type.version)
                && contains("operations", attributes.operation.rawValue) && contains("resources", type.plural) && scopeMatches
        }
        guard ruleMatches else { return false }
        do {
            if type.namespaced, let selector = webhook["namespaceSelector"], let namespace = attributes.namespace {
                let labels = (try? store.get(.namespaces, namespace: nil, name: namespace))?[path: "metadata", "labels"]?.stringMap ?? [:]
                guard try LabelSelector(structured: selector).matches(labels) else { return false }
            }
            if let selector = webhook["objectSelector"] {
                let parsed = try LabelSelector(structured: selector)
                let newLabels = attributes.object?[path: "metadata", "labels"]?.stringMap
                let oldLabels = attributes.oldObject?[path: "metadata", "labels"]?.stringMap
                guard
                    (newLabels.map(parsed.matches) ?? false) || (oldLabels.map(parsed.matches) ?? false)
                        || (newLabels == nil && oldLabels == nil && parsed.matches([:]))
                else { return false }
            }
        } catch {
            throw Status.failure(500, .internalError, "invalid selector in webhook \(webhook["name"]?.stringValue ?? ""): \(error)")
        }
        // Every condition must hold; a false one skips the webhook even when another errs.
        var firstError: MatchCondition.EvaluationError?
        let variables = matchVariables(attributes)
        for condition in webhook["matchConditions"]?.arrayValue ?? [] {
            let source = condition["expression"]?.stringValue ?? ""
            do {
                if try !MatchCondition(compiling: source).evaluate(variables) { return false }
            } catch let error as MatchCondition.EvaluationError {
                firstError = firstError ?? error
            } catch {
                firstError = firstError ?? MatchCondition.EvaluationError(description: "\(error)")
            }
        }
        if let firstError { throw firstError }
        return true
    }

    private func matchVariables(_ attributes: Attributes) -> [String: JSONValue] {
        var request: [String: JSONValue] = [
            "operation": .string(attributes.operation.rawValue),
            "kind": ["group": .string(attributes.type.group), "version": .string(attributes.type.version), "kind": .string(attributes.type.kind)],
            "resource": [
                "group": .string(attributes.type.group), "version": .string(attributes.type.version), "resource": .string(attributes.type.plural),
            ],
            "userInfo": attributes.user.json, "dryRun": .bool(attributes.dryRun), "options": attributes.options,
        ]
        if let name = attributes.name { request["name"] = .string(name) }
        if let namespace = attributes.namespace, attributes.type.namespaced { request["namespace"] = .string(namespace) }
        return ["object": attributes.object ?? .null, "oldObject": attributes.oldObject ?? .null, "request": .object(request)]
    }

    // MARK: - Calling

    /// The API server fails a call to a webhook that refuses connections at once, rather than
    /// retrying until the timeout; so does this client. It lives as long as the process.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct CallError: Error, CustomStringConvertible {
        var description: String
    }

    /// What a webhook answered, once checked against the AdmissionReview v1 contract.
    struct Answer {
        var allowed: Bool
        var status: JSONValue?
        var patch: String?
        var warnings: [String]
    }

    private func call(_ webhook: JSONValue, name: String, _ attributes: Attributes) async throws -> Answer {
        let clientConfig = webhook["clientConfig"] ?? [:]
        let timeout = min(max(Int(webhook["timeoutSeconds"]?.integerValue ?? 10), 1), 30)
        let url: String
        if let direct = clientConfig["url"]?.stringValue {
            url = direct
        } else if let service = clientConfig["service"] {
            let key = "\(service["namespace"]?.stringValue ?? "")/\(service["name"]?.stringValue ?? "")"
            guard let address = endpoint(key) else { throw CallError(description: "service \"\(key)\" has no endpoints") }
            url = "https://\(address)\(service["path"]?.stringValue ?? "/")"
        } else {
            throw CallError(description: "the webhook has no clientConfig url or service")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let bundle = clientConfig["caBundle"]?.stringValue, let pem = Data(base64Encoded: bundle) {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem)))
        }
        let uid = UUID().uuidString.lowercased()
        let type = attributes.type
        let kind = GroupVersionKind(group: type.group, version: type.version, kind: type.kind)
        let resource = GroupVersionResource(group: type.group, version: type.version, resource: type.plural)
        var request = AdmissionReview.Request(
            uid: uid, kind: kind, resource: resource, name: attributes.name, namespace: type.namespaced ? attributes.namespace : nil,
            operation: attributes.operation.rawValue, object: attributes.object, oldObject: attributes.oldObject, dryRun: attributes.dryRun,
            userInfo: attributes.user.json)
        request.requestKind = kind
        request.requestResource = resource
        request.options = attributes.options
        var review = AdmissionReview(request: request)
        review.apiVersion = AdmissionReview.apiVersionV1
        review.kind = "AdmissionReview"
        var httpRequest = HTTPClientRequest(url: url + (url.contains("?") ? "&" : "?") + "timeout=\(timeout)s")
        httpRequest.method = .POST
        httpRequest.tlsConfiguration = tls
        httpRequest.headers.add(name: "Content-Type", value: "application/json")
        httpRequest.headers.add(name: "Accept", value: "application/json")
        httpRequest.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(review)))
        let response = try await Self.client.execute(httpRequest, timeout: .seconds(Int64(timeout)))
        let body = try await response.body.collect(upTo: 3 << 20)
        guard response.status == .ok else {
            throw CallError(description: "webhook answered HTTP \(response.status.code): \(String(buffer: body).prefix(200))")
        }
        return try Self.answer(try JSONValue.parse(body.readableBytesView), uid: uid)
    }

    /// The checks the API server's webhook client makes of an answer (`VerifyAdmissionResponse`).
    static func answer(_ review: JSONValue, uid: String) throws -> Answer {
        let apiVersion = review["apiVersion"]?.stringValue ?? ""
        let kind = review["kind"]?.stringValue ?? ""
        guard apiVersion == AdmissionReview.apiVersionV1, kind == "AdmissionReview" else {
            throw CallError(description: "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got \(apiVersion), Kind=\(kind)")
        }
        guard let response = review["response"], response.objectValue != nil else {
            throw CallError(description: "webhook response was absent")
        }
        let answeredUID = response["uid"]?.stringValue ?? ""
        guard answeredUID == uid else { throw CallError(description: "expected response.uid=\"\(uid)\", got \"\(answeredUID)\"") }
        let patch = response["patch"]?.stringValue
        let patchType = response["patchType"]?.stringValue
        if patch != nil, patchType == nil { throw CallError(description: "webhook returned response.patch but not response.patchType") }
        if let patchType, patchType != "JSONPatch" { throw CallError(description: "webhook returned invalid patchType: \(patchType)") }
        if patchType != nil, patch == nil { throw CallError(description: "webhook returned response.patchType but not response.patch") }
        return Answer(
            allowed: response["allowed"]?.boolValue ?? false, status: response["status"], patch: patch,
            warnings: response["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    private func apply(_ patch: String, to object: JSONValue, webhook: String) throws -> JSONValue {
        guard let data = Data(base64Encoded: patch) else {
            throw Status.failure(500, .internalError, "admission webhook \"\(webhook)\" returned a patch that is not base64")
        }
        do {
            let operations = try JSONDecoder().decode([JSONPatchOperation].self, from: data)
            return try JSONPatch.apply(operations, to: object)
        } catch {
            throw Status.failure(
                500, .internalError, "Internal error occurred: admission webhook \"\(webhook)\" returned a patch that cannot be applied: \(error)")
        }
    }

    // MARK: - Knative's own webhook

    /// Knative refuses pod-spec fields its `config-features` does not enable.
    private func validateKnativeFeatures(_ service: JSONValue) throws(Status) {
        let features = (try? store.get(.configMaps, namespace: "knative-serving", name: "config-features"))?["data"]?.stringMap ?? [:]
        var refused: [String] = []
        for (field, flag) in [
            ("affinity", "kubernetes.podspec-affinity"), ("nodeSelector", "kubernetes.podspec-nodeselector"),
            ("tolerations", "kubernetes.podspec-tolerations"),
        ] {
            if let value = service[path: "spec", "template", "spec", field], !value.isNull, features[flag]?.lowercased() != "enabled" {
                refused.append("spec.template.spec.\(field)")
            }
        }
        if !refused.isEmpty {
            throw Status(
                status: "Failure",
                message:
                    "admission webhook \"validation.webhook.serving.knative.dev\" denied the request: validation failed: must not set the field(s): \(refused.joined(separator: ", "))",
                reason: "", code: 400)
        }
    }
}
