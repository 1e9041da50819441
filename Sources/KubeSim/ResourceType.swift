import KubeModels

/// A kind of object KubeSim serves, with what discovery and storage need to know of it.
public struct ResourceType: Sendable, Hashable {
    public var group: String
    public var version: String
    /// Plural name used in paths.
    public var plural: String
    public var singular: String
    public var kind: String
    public var namespaced: Bool
    public var shortNames: [String]
    public var categories: [String]
    /// Whether writes to the main resource ignore `.status` and `/status` writes ignore the rest.
    public var hasStatusSubresource: Bool
    /// Whether spec changes bump `metadata.generation`.
    public var tracksGeneration: Bool

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    public var groupVersion: String { apiVersion }

    static let verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]

    public static let namespaces = ResourceType(
        group: "", version: "v1", plural: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, shortNames: ["ns"],
        categories: [], hasStatusSubresource: true, tracksGeneration: false)
    public static let nodes = ResourceType(
        group: "", version: "v1", plural: "nodes", singular: "node", kind: "Node", namespaced: false, shortNames: ["no"], categories: [],
        hasStatusSubresource: true, tracksGeneration: false)
    public static let pods = ResourceType(
        group: "", version: "v1", plural: "pods", singular: "pod", kind: "Pod", namespaced: true, shortNames: ["po"], categories: ["all"],
        hasStatusSubresource: true, tracksGeneration: false)
    public static let configMaps = ResourceType(
        group: "", version: "v1", plural: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, shortNames: ["cm"],
        categories: [], hasStatusSubresource: false, tracksGeneration: false)
    public static let secrets = ResourceType(
        group: "", version: "v1", plural: "secrets", singular: "secret", kind: "Secret", namespaced: true, shortNames: [], categories: [],
        hasStatusSubresource: false, tracksGeneration: false)
    public static let events = ResourceType(
        group: "", version: "v1", plural: "events", singular: "event", kind: "Event", namespaced: true, shortNames: ["ev"], categories: [],
        hasStatusSubresource: false, tracksGeneration: false)
    public static let deployments = ResourceType(
        group: "apps", version: "v1", plural: "deployments", singular: "deployment", kind: "Deployment", namespaced: true, shortNames: ["deploy"],
        categories: ["all"], hasStatusSubresource: true, tracksGeneration: true)
    public static let customResourceDefinitions = ResourceType(
        group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", singular: "customresourcedefinition",
        kind: "CustomResourceDefinition", namespaced: false, shortNames: ["crd", "crds"], categories: ["api-extensions"],
        hasStatusSubresource: true, tracksGeneration: true)
    /// Knative's Service, served from Knative's own CRD (`schemas/`, installed in every KubeSim):
    /// this value is the type that definition serves, for code that names it.
    public static let knativeServices = ResourceType(
        group: "serving.knative.dev", version: "v1", plural: "services", singular: "service", kind: "Service", namespaced: true,
        shortNames: ["kservice", "ksvc"], categories: ["all", "knative", "serving"], hasStatusSubresource: true, tracksGeneration: true)
    public static let mutatingWebhookConfigurations = ResourceType(
        group: "admissionregistration.k8s.io", version: "v1", plural: "mutatingwebhookconfigurations", singular: "mutatingwebhookconfiguration",
        kind: "MutatingWebhookConfiguration", namespaced: false, shortNames: [], categories: ["api-extensions"], hasStatusSubresource: false,
        tracksGeneration: true)

    /// The kinds built into the API server; custom resources come and go with their definitions.
    public static let builtIn: [ResourceType] = [
        .namespaces, .nodes, .pods, .configMaps, .secrets, .events, .deployments, .mutatingWebhookConfigurations, .customResourceDefinitions,
    ]
}
