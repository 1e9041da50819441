import KubeModels

/// Who a request comes from, as the authenticator tells the authorizer.
public struct UserInfo: Sendable, Hashable {
    public var username: String
    public var groups: [String]

    public init(username: String, groups: [String]) {
        self.username = username
        self.groups = groups
    }

    /// The simulator's admin token: `system:masters`, allowed everything.
    public static let admin = UserInfo(username: "kubesim-admin", groups: ["system:masters", "system:authenticated"])

    /// A service account's identity, as its tokens authenticate.
    public static func serviceAccount(namespace: String, name: String) -> UserInfo {
        UserInfo(
            username: "system:serviceaccount:\(namespace):\(name)",
            groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)", "system:authenticated"])
    }

    var json: JSONValue { ["username": .string(username), "groups": .array(groups.map(JSONValue.string))] }
}

/// What a request asks to do, for RBAC.
enum RequestAttributes: Sendable, Hashable {
    case resource(verb: String, group: String, resource: String, subresource: String?, namespace: String?, name: String?)
    case nonResource(verb: String, path: String)
}

/// The RBAC authorizer (`k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac`): a request is
/// allowed when a rule of a role bound to the user (by a ClusterRoleBinding anywhere, or a
/// RoleBinding in the request's namespace) covers its verb, API group, resource (with
/// `resource/subresource`), and name (`resourceNames`); non-resource paths by `nonResourceURLs`
/// (a trailing `*` is a prefix). `system:masters` is allowed everything, and every
/// authenticated user has the bootstrap policy's discovery and self-review rules.
struct Authorizer {
    let store: ObjectStore

    /// system:discovery, system:public-info-viewer and system:basic-user, bound to
    /// system:authenticated by the API server's bootstrap policy.
    static let bootstrapRules: [JSONValue] = [
        [
            "verbs": ["get"],
            "nonResourceURLs": [
                "/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/", "/healthz", "/livez", "/readyz",
            ],
        ],
        ["verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]],
    ]

    func allows(_ user: UserInfo, _ attributes: RequestAttributes) -> Bool {
        if user.groups.contains("system:masters") { return true }
        return rules(for: user, namespace: namespace(attributes)).contains { Self.covers($0, attributes) }
    }

    private func namespace(_ attributes: RequestAttributes) -> String? {
        if case .resource(_, _, _, _, let namespace, _) = attributes { return namespace }
        return nil
    }

    /// Every rule that applies to the user in `namespace`.
    func rules(for user: UserInfo, namespace: String?) -> [JSONValue] {
        var rules = user.groups.contains("system:authenticated") ? Self.bootstrapRules : []
        for binding in (try? store.list(.clusterRoleBindings).items) ?? [] where Self.binds(binding, user) {
            rules += roleRules(binding["roleRef"], namespace: nil)
        }
        if let namespace {
            for binding in (try? store.list(.roleBindings, namespace: namespace).items) ?? [] where Self.binds(binding, user) {
                rules += roleRules(binding["roleRef"], namespace: namespace)
            }
        }
        return rules
    }

    private func roleRules(_ reference: JSONValue?, namespace: String?) -> [JSONValue] {
        guard let name = reference?["name"]?.stringValue else { return [] }
        switch reference?["kind"]?.stringValue {
        case "ClusterRole": return (try? store.get(.clusterRoles, namespace: nil, name: name))?["rules"]?.arrayValue ?? []
        case "Role":
            guard let namespace else { return [] }
            return (try? store.get(.roles, namespace: namespace, name: name))?["rules"]?.arrayValue ?? []
        default: return []
        }
    }

    static func binds(_ binding: JSONValue, _ user: UserInfo) -> Bool {
        (binding["subjects"]?.arrayValue ?? []).contains { subject in
            let name = subject["name"]?.stringValue ?? ""
            switch subject["kind"]?.stringValue {
            case "User": return name == user.username
            case "Group": return user.groups.contains(name)
            case "ServiceAccount":
                return user.username == "system:serviceaccount:\(subject["namespace"]?.stringValue ?? ""):\(name)"
            default: return false
            }
        }
    }

    static func covers(_ rule: JSONValue, _ attributes: RequestAttributes) -> Bool {
        func list(_ key: String) -> [String] { rule[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        func matches(_ key: String, _ value: String) -> Bool {
            let values = list(key)
            return values.contains("*") || values.contains(value)
        }
        switch attributes {
        case .resource(let verb, let group, let resource, let subresource, _, let name):
            guard matches("verbs", verb), matches("apiGroups", group) else { return false }
            let resources = list("resources")
            let combined = subresource.map { "\(resource)/\($0)" } ?? resource
            let resourceMatches =
                resources.contains("*") || resources.contains(combined) || (subresource == nil ? false : resources.contains("*/\(subresource!)"))
                || (subresource == nil && resources.contains(resource))
            guard resourceMatches else { return false }
            let names = list("resourceNames")
            return names.isEmpty || (name.map(names.contains) ?? false)
        case .nonResource(let verb, let path):
            guard matches("verbs", verb) else { return false }
            return list("nonResourceURLs").contains { pattern in
                pattern == "*" || pattern == path || (pattern.hasSuffix("*") && path.hasPrefix(String(pattern.dropLast())))
            }
        }
    }

    /// The API server's 403 for a refused request.
    static func forbidden(_ user: UserInfo, _ attributes: RequestAttributes) -> Status {
        switch attributes {
        case .resource(let verb, let group, let resource, let subresource, let namespace, let name):
            let qualified = group.isEmpty ? resource : "\(resource).\(group)"
            let subject = name.map { "\(qualified) \"\($0)\"" } ?? qualified
            let what = subresource.map { "resource \"\(resource)/\($0)\"" } ?? "resource \"\(resource)\""
            let scope = namespace.map { " in the namespace \"\($0)\"" } ?? " at the cluster scope"
            return Status.failure(
                403, .forbidden,
                "\(subject) is forbidden: User \"\(user.username)\" cannot \(verb) \(what) in API group \"\(group)\"\(scope)",
                details: .init(name: name, group: group, kind: resource))
        case .nonResource(let verb, let path):
            return Status.failure(403, .forbidden, "forbidden: User \"\(user.username)\" cannot \(verb) path \"\(path)\"")
        }
    }
}
