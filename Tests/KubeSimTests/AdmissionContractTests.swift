import Foundation
import KubeModels
import Logging
import TestSupport
import Testing

@testable import KubeSim

/// The admission webhook contract as kube-apiserver 1.32 holds webhooks to it
/// (`k8s.io/apiserver/pkg/admission/plugin/webhook`): what a review carries, what an answer must
/// be, which configurations are refused, and `matchConditions`.
@Suite(.serialized) struct AdmissionContractTests {
    func seededSim() throws -> KubeSim {
        let sim = try KubeSim()
        try Scenario.seed.apply(to: sim.store)
        return sim
    }

    let configMap: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "cm", "namespace": "default"], "data": ["a": "b"]]

    func admit(
        _ sim: KubeSim, _ operation: AdmissionChain.Operation = .create, object: JSONValue?, oldObject: JSONValue? = nil
    ) async throws
        -> AdmissionChain.Result
    {
        do {
            return try await sim.admission.admit(operation, .configMaps, namespace: "default", object: object, oldObject: oldObject, dryRun: false)
        } catch {
            throw error.status
        }
    }

    /// VerifyAdmissionResponse: an answer that is not an AdmissionReview v1, has another uid, or
    /// carries a patch without `patchType` is a failed call: refused under failurePolicy Fail,
    /// passed over under Ignore.
    enum BrokenAnswer: String, CaseIterable, Sendable {
        case wrongKind, wrongUID, patchWithoutType

        func answer(_ review: JSONValue) -> JSONValue {
            switch self {
            case .wrongKind: ScriptedWebhook.allowed(review).setting("kind", "Review")
            case .wrongUID: ScriptedWebhook.allowed(review).setting(path: ["response", "uid"], "other")
            case .patchWithoutType:
                ScriptedWebhook.allowed(review, patch: [["op": "add", "path": "/data/c", "value": "d"]]).setting(
                    path: ["response", "patchType"], nil)
            }
        }

        var message: String {
            switch self {
            case .wrongKind: "Kind=AdmissionReview"
            case .wrongUID: "expected response.uid"
            case .patchWithoutType: "response.patch but not response.patchType"
            }
        }
    }

    @Test(arguments: BrokenAnswer.allCases)
    func answersBreakingTheContractFailTheCall(broken: BrokenAnswer) async throws {
        let message = broken.message
        try await ScriptedWebhook.with(.init { broken.answer($0) }) { webhook in
            let sim = try seededSim()
            _ = try sim.store.create(webhook.configuration(webhooks: [[:]]), .mutatingWebhookConfigurations, namespace: nil)
            await #expect(throws: Status.self) { try await admit(sim, object: configMap) }
            do {
                _ = try await admit(sim, object: configMap)
            } catch let status as Status {
                #expect(status.code == 500)
                #expect(status.message?.contains(message) == true, "\(broken): \(status.message ?? "")")
            }
            try sim.store.modify(.mutatingWebhookConfigurations, namespace: nil, name: "scripted") {
                $0 = $0.setting("webhooks", .array(($0["webhooks"]?.arrayValue ?? []).map { $0.setting("failurePolicy", "Ignore") }))
            }
            let ignored = try await admit(sim, object: configMap)
            #expect(ignored.object == configMap)
        }
    }

    /// A review carries the request's uid, kind, resource, options (CreateOptions), userInfo; a
    /// DELETE carries `oldObject` and no `object`; a denial without a code is 400.
    @Test func reviewsCarryWhatTheAPIServerSends() async throws {
        let denyDeletes: @Sendable (JSONValue) -> JSONValue = { review in
            guard review[path: "request", "operation"] == "DELETE" else { return ScriptedWebhook.allowed(review) }
            return ScriptedWebhook.allowed(review).setting(path: ["response", "allowed"], false)
                .setting(path: ["response", "status"], ["message": "keep it"])
        }
        try await ScriptedWebhook.with(.init(denyDeletes)) { webhook in
            let sim = try seededSim()
            _ = try sim.store.create(webhook.configuration(webhooks: [[:]]), .mutatingWebhookConfigurations, namespace: nil)
            _ = try await admit(sim, object: configMap)
            let create = try #require(webhook.reviews.all.last)
            #expect(create["apiVersion"] == "admission.k8s.io/v1")
            #expect(create[path: "request", "uid"]?.stringValue?.isEmpty == false)
            #expect(create[path: "request", "options", "kind"] == "CreateOptions")
            #expect(create[path: "request", "resource", "resource"] == "configmaps")
            #expect(create[path: "request", "requestKind", "kind"] == "ConfigMap")
            #expect(create[path: "request", "object", "data", "a"] == "b")

            do {
                _ = try await admit(sim, .delete, object: nil, oldObject: configMap)
                Issue.record("the denial was not refused")
            } catch let status as Status {
                #expect(status.code == 400)
                #expect(status.message == "admission webhook \"scripted.kubesim.dev\" denied the request: keep it")
            }
            let delete = try #require(webhook.reviews.all.last)
            #expect(delete[path: "request", "operation"] == "DELETE")
            #expect(delete[path: "request", "object"] == nil || delete[path: "request", "object"] == .null)
            #expect(delete[path: "request", "oldObject", "metadata", "name"] == "cm")
            #expect(delete[path: "request", "options", "kind"] == "DeleteOptions")
        }
    }

    /// reinvocationPolicy IfNeeded: a webhook is called again when a later one changed the
    /// object after it; Never is called once.
    @Test func ifNeededWebhooksAreCalledAgainAfterALaterChange() async throws {
        let answer: @Sendable (JSONValue) -> JSONValue = { review in
            // The second webhook (at /second) adds a label once; the first only looks.
            let labels = review[path: "request", "object", "metadata", "labels"]
            if review["calledPath"] == "/second", labels == nil {
                return ScriptedWebhook.allowed(review, patch: [["op": "add", "path": "/metadata/labels", "value": ["changed": "yes"]]])
            }
            return ScriptedWebhook.allowed(review)
        }
        try await ScriptedWebhook.with(.init(answer)) { webhook in
            let sim = try seededSim()
            _ = try sim.store.create(
                webhook.configuration(name: "a-first", webhooks: [["name": "first.kubesim.dev", "reinvocationPolicy": "IfNeeded"]]),
                .mutatingWebhookConfigurations, namespace: nil)
            _ = try sim.store.create(
                webhook.configuration(
                    name: "b-second",
                    webhooks: [
                        [
                            "name": "second.kubesim.dev",
                            "clientConfig": [
                                "url": .string(webhook.url + "second"), "caBundle": .string(Data(webhook.caPEM.utf8).base64EncodedString()),
                            ],
                        ]
                    ]), .mutatingWebhookConfigurations, namespace: nil)
            let object = configMap
            let result = try await admit(sim, object: object)
            #expect(result.object[path: "metadata", "labels", "changed"] == "yes")
            #expect(webhook.reviews.all.count == 3, "first, second, first again")
            #expect(webhook.reviews.all.last?[path: "request", "object", "metadata", "labels", "changed"] == "yes")

            try sim.store.modify(.mutatingWebhookConfigurations, namespace: nil, name: "a-first") {
                $0 = $0.setting("webhooks", .array(($0["webhooks"]?.arrayValue ?? []).map { $0.setting("reinvocationPolicy", "Never") }))
            }
            _ = try await admit(sim, object: object)
            #expect(webhook.reviews.all.count == 5)
        }
    }

    /// ValidatingWebhookConfigurations run after mutation and validation; their patches are
    /// ignored and their denials refuse the write.
    @Test func validatingWebhooksSeeTheFinalObjectAndCanOnlyRefuse() async throws {
        let answer: @Sendable (JSONValue) -> JSONValue = { review in
            if review[path: "request", "object", "data", "forbidden"] != nil {
                return ScriptedWebhook.allowed(review).setting(path: ["response", "allowed"], false)
                    .setting(path: ["response", "status"], ["code": 403, "message": "no"])
            }
            return ScriptedWebhook.allowed(review, patch: [["op": "add", "path": "/data/sneaky", "value": "x"]])
        }
        try await ScriptedWebhook.with(.init(answer)) { webhook in
            let sim = try seededSim()
            _ = try sim.store.create(
                webhook.configuration("ValidatingWebhookConfiguration", webhooks: [[:]]), .validatingWebhookConfigurations, namespace: nil)
            let warnings = try await sim.admission.validate(
                .create, .configMaps, namespace: "default", object: configMap, oldObject: nil, dryRun: false)
            #expect(warnings.isEmpty)
            do {
                _ = try await sim.admission.validate(
                    .create, .configMaps, namespace: "default", object: configMap.setting("data", ["forbidden": "1"]), oldObject: nil, dryRun: false)
                Issue.record("the denial was not refused")
            } catch let refusal as AdmissionChain.Refusal {
                #expect(refusal.status.code == 403)
            }
        }
    }

    /// ValidateMutatingWebhookConfiguration refuses what the API server refuses, each with its
    /// field; the chart's own configuration is accepted.
    struct InvalidCase: Sendable, CustomTestStringConvertible {
        /// Fields to set on a valid webhook; `.null` removes one.
        var change: [String: JSONValue]
        var message: String
        var testDescription: String { message }
    }

    static let invalidCases: [InvalidCase] = [
        InvalidCase(change: ["clientConfig": ["url": "http://127.0.0.1/"]], message: "'https' is the only allowed URL scheme"),
        InvalidCase(change: ["timeoutSeconds": 31], message: "the timeout value must be between 1 and 30 seconds"),
        InvalidCase(change: ["sideEffects": .null], message: "sideEffects: Required value"),
        InvalidCase(change: ["sideEffects": "Some"], message: "sideEffects: Unsupported value"),
        InvalidCase(change: ["admissionReviewVersions": []], message: "admissionReviewVersions: Required value"),
        InvalidCase(change: ["name": "scripted"], message: "should be a domain with at least three segments"),
        InvalidCase(change: ["failurePolicy": "Sometimes"], message: "failurePolicy: Unsupported value"),
        InvalidCase(
            change: ["matchConditions": [["name": "prefix", "expression": "object.metadata.name.startsWith('a')"]]], message: "compilation failed"),
        InvalidCase(change: ["matchConditions": [["name": "params", "expression": "params.x == 1"]]], message: "undeclared reference to 'params'"),
    ]

    @Test(arguments: Self.invalidCases)
    func invalidConfigurationsAreRefused(invalid: InvalidCase) throws {
        let change = invalid.change
        let message = invalid.message
        var webhook: [String: JSONValue] = [
            "name": "scripted.kubesim.dev", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "clientConfig": ["url": "https://127.0.0.1/"],
        ]
        for (key, value) in change { webhook[key] = value == .null ? nil : value }
        let object: JSONValue = [
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": ["name": "bad"],
            "webhooks": [.object(webhook)],
        ]
        do {
            try BuiltInValidation.check(object, oldObject: nil, .mutatingWebhookConfigurations)
            Issue.record("accepted: \(change)")
        } catch {
            #expect(error.code == 422)
            #expect(error.message?.contains(message) == true, "\(error.message ?? "")")
        }
    }

    @Test func duplicateWebhookNamesAreRefused() {
        let webhook: JSONValue = [
            "name": "a.b.c", "admissionReviewVersions": ["v1"], "sideEffects": "None", "clientConfig": ["url": "https://127.0.0.1/"],
        ]
        let object: JSONValue = [
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": ["name": "twice"],
            "webhooks": [webhook, webhook],
        ]
        #expect(throws: Status.self) { try BuiltInValidation.check(object, oldObject: nil, .mutatingWebhookConfigurations) }
        #expect(WebhookConfigurationValidation.check(object, mutating: true).map(\.description) == ["webhooks[1].name: Duplicate value: \"a.b.c\""])
    }

    /// The chart's two match conditions, as `templates/webhook.yaml` writes them, compile and
    /// decide as CEL would: CREATE passes, an UPDATE of an object being deleted or one that
    /// leaves the pod template alone does not.
    @Test func theChartsMatchConditionsDecideAsCELDoes() throws {
        let chart = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "../../charts/direktiv-dispatch/templates/webhook.yaml"),
            encoding: .utf8)
        let deleting = "request.operation != 'UPDATE' || !has(object.metadata.deletionTimestamp)"
        let template =
            "request.operation != 'UPDATE' || oldObject == null || !has(object.spec) || !has(object.spec.template) || !has(oldObject.spec) || !has(oldObject.spec.template) || object.spec.template != oldObject.spec.template"
        #expect(chart.contains(deleting))
        #expect(chart.replacingOccurrences(of: "\n          ", with: " ").contains(template))
        let notDeleting = try MatchCondition(compiling: deleting)
        let changesTemplate = try MatchCondition(compiling: template)
        let service: JSONValue = ["metadata": ["name": "fn"], "spec": ["template": ["spec": ["containers": []]]]]
        func variables(_ operation: String, _ object: JSONValue, _ old: JSONValue?) -> [String: JSONValue] {
            ["request": ["operation": .string(operation)], "object": object, "oldObject": old ?? .null]
        }
        #expect(try notDeleting.evaluate(variables("CREATE", service, nil)))
        #expect(try changesTemplate.evaluate(variables("CREATE", service, nil)))
        #expect(
            try !notDeleting.evaluate(variables("UPDATE", service.setting(path: ["metadata", "deletionTimestamp"], "2026-12-05T00:00:00Z"), service)))
        #expect(try !changesTemplate.evaluate(variables("UPDATE", service.setting(path: ["metadata", "labels"], ["a": "b"]), service)))
        #expect(
            try changesTemplate.evaluate(
                variables("UPDATE", service.setting(path: ["spec", "template", "spec", "containers"], [["name": "c"]]), service)))
        // CEL: selecting a missing field is an error, absorbed by a deciding side of || and &&.
        let missing = try MatchCondition(compiling: "object.spec.missing == 1")
        #expect(throws: MatchCondition.EvaluationError.self) { try missing.evaluate(variables("CREATE", service, nil)) }
        #expect(try MatchCondition(compiling: "object.spec.missing == 1 || true").evaluate(variables("CREATE", service, nil)))
        #expect(try !MatchCondition(compiling: "false && object.spec.missing == 1").evaluate(variables("CREATE", service, nil)))
    }
}
