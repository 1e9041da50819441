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

    public static let validatingWebhookConfigurations = ResourceType(
        group: "admissionregistration.k8s.io", version: "v1", plural: "validatingwebhookconfigurations",
        singular: "validatingwebhookconfiguration", kind: "ValidatingWebhookConfiguration", namespaced: false, shortNames: [],
        categories: ["api-extensions"], hasStatusSubresource: false, tracksGeneration: true)
    /// core/v1 Services: what `kubectl get services` means.
    public static let services = ResourceType(
        group: "", version: "v1", plural: "services", singular: "service", kind: "Service", namespaced: true, shortNames: ["svc"],
        categories: ["all"], hasStatusSubresource: true, tracksGeneration: false)
    public static let endpointSlices = ResourceType(
        group: "discovery.k8s.io", version: "v1", plural: "endpointslices", singular: "endpointslice", kind: "EndpointSlice", namespaced: true,
        shortNames: [], categories: [], hasStatusSubresource: false, tracksGeneration: false)
    public static let replicaSets = ResourceType(
        group: "apps", version: "v1", plural: "replicasets", singular: "replicaset", kind: "ReplicaSet", namespaced: true, shortNames: ["rs"],
        categories: ["all"], hasStatusSubresource: true, tracksGeneration: true)
    public static let horizontalPodAutoscalers = ResourceType(
        group: "autoscaling", version: "v2", plural: "horizontalpodautoscalers", singular: "horizontalpodautoscaler",
        kind: "HorizontalPodAutoscaler", namespaced: true, shortNames: ["hpa"], categories: ["all"], hasStatusSubresource: true,
        tracksGeneration: false)
    public static let leases = ResourceType(
        group: "coordination.k8s.io", version: "v1", plural: "leases", singular: "lease", kind: "Lease", namespaced: true, shortNames: [],
        categories: [], hasStatusSubresource: false, tracksGeneration: false)
    /// events.k8s.io/v1 Events: the same objects as core Events, seen through the newer schema
    /// (stored as core Events and converted both ways, as the API server does).
    public static let eventsV1 = ResourceType(
        group: "events.k8s.io", version: "v1", plural: "events", singular: "event", kind: "Event", namespaced: true, shortNames: ["ev"],
        categories: [], hasStatusSubresource: false, tracksGeneration: false)

    public static let serviceAccounts = ResourceType(
        group: "", version: "v1", plural: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount", namespaced: true,
        shortNames: ["sa"], categories: [], hasStatusSubresource: false, tracksGeneration: false)
    public static let roles = ResourceType(
        group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", singular: "role", kind: "Role", namespaced: true, shortNames: [],
        categories: [], hasStatusSubresource: false, tracksGeneration: false)
    public static let clusterRoles = ResourceType(
        group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", singular: "clusterrole", kind: "ClusterRole", namespaced: false,
        shortNames: [], categories: [], hasStatusSubresource: false, tracksGeneration: false)
    public static let roleBindings = ResourceType(
        group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", singular: "rolebinding", kind: "RoleBinding", namespaced: true,
        shortNames: [], categories: [], hasStatusSubresource: false, tracksGeneration: false)
    public static let clusterRoleBindings = ResourceType(
        group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterrolebindings", singular: "clusterrolebinding",
        kind: "ClusterRoleBinding", namespaced: false, shortNames: [], categories: [], hasStatusSubresource: false, tracksGeneration: false)
    /// authorization.k8s.io/v1 SelfSubjectAccessReview: create only, answered and not stored.
    public static let selfSubjectAccessReviews = ResourceType(
        group: "authorization.k8s.io", version: "v1", plural: "selfsubjectaccessreviews", singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview", namespaced: false, shortNames: [], categories: [], hasStatusSubresource: false, tracksGeneration: false)

    /// The kinds built into the API server; custom resources come and go with their definitions.
    public static let builtIn: [ResourceType] = [
        .namespaces, .nodes, .pods, .services, .configMaps, .secrets, .events, .deployments, .replicaSets, .endpointSlices,
        .horizontalPodAutoscalers, .leases, .eventsV1, .mutatingWebhookConfigurations, .validatingWebhookConfigurations,
        .customResourceDefinitions, .serviceAccounts, .roles, .clusterRoles, .roleBindings, .clusterRoleBindings, .selfSubjectAccessReviews,
    ]

    /// Where objects of this type are kept: events.k8s.io Events are core Events.
    public var storage: ResourceType { self == .eventsV1 ? .events : self }
}
