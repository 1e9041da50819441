import AsyncHTTPClient
import Foundation
import KubeModels
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// Calls mutating admission webhooks as the API server does.
///
/// For each `MutatingWebhookConfiguration` webhook whose rules, namespace selector and object
/// selector match: an AdmissionReview v1 over HTTPS, verified against the webhook's `caBundle`,
/// within its `timeoutSeconds`; a JSON patch answer is applied, warnings are collected, a denial
/// becomes the API server's error, and a failed call follows `failurePolicy`. Knative's own
/// validation of `config-features` runs for Knative Services after the mutating webhooks.
struct AdmissionChain: Sendable {
    let store: ObjectStore
    /// Resolves a webhook's `service` reference (`namespace/name`) to `host:port`.
    let endpoint: @Sendable (String) -> String?
    let logger: Logger

    enum Operation: String {
        case create = "CREATE"
        case update = "UPDATE"
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

    func admit(
        _ operation: Operation, _ type: ResourceType, namespace: String?, object: JSONValue, oldObject: JSONValue?, dryRun: Bool
    ) async throws(Refusal) -> Result {
        var warnings: [String] = []
        do {
            return try await admit(operation, type, namespace: namespace, object: object, oldObject: oldObject, dryRun: dryRun, warnings: &warnings)
        } catch {
            throw Refusal(status: error, warnings: warnings)
        }
    }

    private func admit(
        _ operation: Operation, _ type: ResourceType, namespace: String?, object: JSONValue, oldObject: JSONValue?, dryRun: Bool,
        warnings: inout [String]
    ) async throws(Status) -> Result {
        var current = object
        let configurations = (try? store.list(.mutatingWebhookConfigurations).items) ?? []
        for configuration in configurations {
            for webhook in configuration["webhooks"]?.arrayValue ?? []
            where try matches(webhook, operation, type, namespace: namespace, object: current, oldObject: oldObject) {
                let name = webhook["name"]?.stringValue ?? "unnamed"
                let sideEffects = webhook["sideEffects"]?.stringValue ?? "Unknown"
                if dryRun, sideEffects != "None", sideEffects != "NoneOnDryRun" {
                    throw Status.failure(400, .badRequest, "admission webhook \"\(name)\" does not support dry run")
                }
                let failurePolicy = webhook["failurePolicy"]?.stringValue ?? "Fail"
                do {
                    let answer = try await call(
                        webhook, name: name, operation, type, namespace: namespace, object: current, oldObject: oldObject, dryRun: dryRun)
                    warnings += answer.warnings ?? []
                    if !answer.allowed {
                        let code = max(answer.status?.code ?? 403, 400)
                        let message =
                            answer.status?.message.map { "admission webhook \"\(name)\" denied the request: \($0)" }
                            ?? "admission webhook \"\(name)\" denied the request without explanation"
                        throw Status(status: "Failure", message: message, reason: answer.status?.reason ?? "", code: code)
                    }
                    if let patch = answer.patch {
                        current = try apply(patch, type: answer.patchType, to: current, webhook: name)
                    }
                } catch let status as Status {
                    throw status
                } catch {
                    if failurePolicy == "Ignore" {
                        logger.warning("admission webhook failed and is ignored", metadata: ["webhook": "\(name)", "error": "\(error)"])
                        continue
                    }
                    throw Status.failure(500, .internalError, "Internal error occurred: failed calling webhook \"\(name)\": \(error)")
                }
            }
        }
        if type == .knativeServices { try validateKnativeFeatures(current) }
        return Result(object: current, warnings: warnings)
    }

    // MARK: - Matching

    private func matches(
        _ webhook: JSONValue, _ operation: Operation, _ type: ResourceType, namespace: String?, object: JSONValue, oldObject: JSONValue?
    ) throws(Status) -> Bool {
        let rules = webhook["rules"]?.arrayValue ?? []
        let ruleMatches = rules.contains { rule in
            func contains(_ key: String, _ value: String) -> Bool {
                let list = rule[key]?.arrayValue?.compactMap(\.stringValue) ?? []
                return list.contains("*") || list.contains(value)
            }
            let scope = rule["scope"]?.stringValue ?? "*"
            let scopeMatches = scope == "*" || (scope == "Namespaced") == type.namespaced
            return contains("apiGroups", type.group) && contains("apiVersions", type.version) && contains("operations", operation.rawValue)
                && contains("resources", type.plural) && scopeMatches
        }
        guard ruleMatches else { return false }
        do {
            if type.namespaced, let selector = webhook["namespaceSelector"], let namespace {
                let labels = (try? store.get(.namespaces, namespace: nil, name: namespace))?[path: "metadata", "labels"]?.stringMap ?? [:]
                guard try LabelSelector(structured: selector).matches(labels) else { return false }
            }
            if let selector = webhook["objectSelector"] {
                let parsed = try LabelSelector(structured: selector)
                let newLabels = object[path: "metadata", "labels"]?.stringMap ?? [:]
                let oldLabels = oldObject?[path: "metadata", "labels"]?.stringMap
                guard parsed.matches(newLabels) || (oldLabels.map(parsed.matches) ?? false) else { return false }
            }
        } catch {
            throw Status.failure(500, .internalError, "invalid selector in webhook \(webhook["name"]?.stringValue ?? ""): \(error)")
        }
        return true
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

    private func call(
        _ webhook: JSONValue, name: String, _ operation: Operation, _ type: ResourceType, namespace: String?, object: JSONValue,
        oldObject: JSONValue?, dryRun: Bool
    ) async throws -> AdmissionReview.Response {
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
        let name = object[path: "metadata", "name"]?.stringValue
        let review = AdmissionReview(
            request: .init(
                uid: uid,
                kind: GroupVersionKind(group: type.group, version: type.version, kind: type.kind),
                resource: GroupVersionResource(group: type.group, version: type.version, resource: type.plural),
                name: name,
                namespace: namespace,
                operation: operation.rawValue,
                object: object,
                oldObject: oldObject,
                dryRun: dryRun,
                userInfo: ["username": "kubesim-admin", "groups": ["system:masters", "system:authenticated"]]
            )
        )
        var request = HTTPClientRequest(url: url + (url.contains("?") ? "&" : "?") + "timeout=\(timeout)s")
        request.method = .POST
        request.tlsConfiguration = tls
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(review)))
        let response = try await Self.client.execute(request, timeout: .seconds(Int64(timeout)))
        let body = try await response.body.collect(upTo: 3 << 20)
        guard response.status == .ok else {
            throw CallError(description: "webhook answered HTTP \(response.status.code): \(String(buffer: body).prefix(200))")
        }
        let answer = try JSONDecoder().decode(AdmissionReview.self, from: Data(body.readableBytesView))
        guard let result = answer.response, result.uid == uid else {
            throw CallError(description: "webhook response uid does not match the request")
        }
        return result
    }

    private func apply(_ patch: String, type: String?, to object: JSONValue, webhook: String) throws -> JSONValue {
        guard type == "JSONPatch" else {
            throw Status.failure(500, .internalError, "admission webhook \"\(webhook)\" returned an unsupported patchType \(type ?? "none")")
        }
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
