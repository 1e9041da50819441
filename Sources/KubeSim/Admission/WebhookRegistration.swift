import Foundation
import KubeModels

/// The `MutatingWebhookConfiguration` the Helm chart makes, for an agent listening at `url`:
/// CREATE and UPDATE of Knative Services and Deployments in `namespaces`.
public enum WebhookRegistration {
    public static let name = "direktiv-dispatch"

    public static func configuration(url: String, caPEM: String, failurePolicy: String = "Fail", namespaces: [String]) -> JSONValue {
        [
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": ["name": .string(name)],
            "webhooks": [
                [
                    "name": "dispatch.direktiv.io",
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "failurePolicy": .string(failurePolicy),
                    "timeoutSeconds": 5,
                    "clientConfig": ["url": .string(url), "caBundle": .string(Data(caPEM.utf8).base64EncodedString())],
                    "rules": [
                        [
                            "apiGroups": ["serving.knative.dev"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                            "resources": ["services"], "scope": "Namespaced",
                        ],
                        [
                            "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["deployments"],
                            "scope": "Namespaced",
                        ],
                    ],
                    "namespaceSelector": [
                        "matchExpressions": [
                            ["key": "kubernetes.io/metadata.name", "operator": "In", "values": .array(namespaces.map(JSONValue.string))]
                        ]
                    ],
                ]
            ],
        ]
    }

    /// Registers (or replaces) the agent's webhook in `store`.
    public static func register(_ configuration: JSONValue, in store: ObjectStore) throws {
        if (try? store.get(.mutatingWebhookConfigurations, namespace: nil, name: name)) != nil {
            _ = try store.delete(.mutatingWebhookConfigurations, namespace: nil, name: name)
        }
        _ = try store.create(configuration, .mutatingWebhookConfigurations, namespace: nil)
    }
}
