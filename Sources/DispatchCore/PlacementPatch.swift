import KubeModels

/// What a placement patch writes, besides the cluster itself.
public struct PatchSettings: Sendable, Hashable {
    public var clusterLabel: String
    public var addLiqoToleration: Bool
    public var liqoTaintKey: String

    public init(clusterLabel: String = Rules.defaultClusterLabel, addLiqoToleration: Bool = true, liqoTaintKey: String = LiqoSettings.defaultTaintKey)
    {
        self.clusterLabel = clusterLabel
        self.addLiqoToleration = addLiqoToleration
        self.liqoTaintKey = liqoTaintKey
    }

    public init(rules: Rules) {
        self.init(clusterLabel: rules.clusterLabel, addLiqoToleration: rules.liqo.addToleration, liqoTaintKey: rules.liqo.taintKey)
    }
}

/// Builds the JSON Patch (RFC 6902) that makes Kubernetes run a workload on a cluster.
///
/// For Knative Services and Deployments alike (both keep the pod template at `/spec/template`):
/// a required node-affinity expression `<clusterLabel> In [<cluster>]` in every required term
/// (replacing an older expression on the same label, or in a new term when there is none), the
/// Liqo toleration when enabled and missing, the `dispatch.direktiv.io/cluster` and
/// `dispatch.direktiv.io/namespace` annotations, and a `dispatch.direktiv.io/cluster` pod label.
///
/// Every operation is an `add` of a whole value computed from the original object, so applying
/// the patch a second time changes nothing, and the patch for an already placed object is empty.
/// Each path is written once: an object the patch creates is never created again (which would
/// replace what the patch put in it before). Values copied from the object are its own, numbers
/// included (`JSONValue` keeps a number's text when no machine number holds it).
public enum PlacementPatch {
    public static func operations(
        for object: JSONValue,
        cluster: String,
        direktivNamespace: String?,
        settings: PatchSettings
    ) -> [JSONPatchOperation] {
        var operations: [JSONPatchOperation] = []
        var created = Set<[String]>()

        var annotations = [FunctionIdentity.clusterAnnotation: JSONValue.string(cluster)]
        if let direktivNamespace { annotations[FunctionIdentity.namespaceAnnotation] = .string(direktivNamespace) }
        operations += setMembers(annotations, at: ["metadata", "annotations"], in: object, created: &created)

        operations += setMembers(
            [FunctionIdentity.clusterAnnotation: .string(cluster)], at: ["spec", "template", "metadata", "labels"], in: object, created: &created)

        let specPath = JSONPointer(tokens: ["spec", "template", "spec"])
        let podSpec = object.value(at: specPath)
        let affinity = podSpec?["affinity"]
        let required = affinity?[path: "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"]
        let newRequired = requiredAffinity(required, clusterLabel: settings.clusterLabel, cluster: cluster)
        let tolerations = podSpec?["tolerations"]?.arrayValue ?? []
        let needsToleration = settings.addLiqoToleration && !tolerations.contains { tolerates($0, taintKey: settings.liqoTaintKey) }

        if podSpec?.objectValue == nil, newRequired != required || needsToleration {
            operations += ensureObjects(upTo: specPath, in: object, created: &created)
        }
        if newRequired != required {
            if affinity?.objectValue == nil {
                operations.append(
                    .add(specPath.appending("affinity"), ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": newRequired]]))
            } else if affinity?["nodeAffinity"]?.objectValue == nil {
                operations.append(
                    .add(specPath.appending("affinity").appending("nodeAffinity"), ["requiredDuringSchedulingIgnoredDuringExecution": newRequired]))
            } else {
                operations.append(
                    .add(
                        specPath.appending("affinity").appending("nodeAffinity").appending("requiredDuringSchedulingIgnoredDuringExecution"),
                        newRequired))
            }
        }
        if needsToleration {
            let toleration: JSONValue = ["key": .string(settings.liqoTaintKey), "operator": "Exists", "effect": "NoExecute"]
            operations.append(.add(specPath.appending("tolerations"), .array(tolerations + [toleration])))
        }
        return operations
    }

    /// The node selector expression that keeps pods on `cluster`.
    public static func expression(clusterLabel: String, cluster: String) -> JSONValue {
        ["key": .string(clusterLabel), "operator": "In", "values": [.string(cluster)]]
    }

    /// `required` with the cluster expression AND-ed into every term (replacing any older
    /// expression on the cluster label), or one new term when there are none.
    static func requiredAffinity(_ required: JSONValue?, clusterLabel: String, cluster: String) -> JSONValue {
        let expression = expression(clusterLabel: clusterLabel, cluster: cluster)
        var selector = required?.objectValue ?? [:]
        let terms = selector["nodeSelectorTerms"]?.arrayValue ?? []
        if terms.isEmpty {
            selector["nodeSelectorTerms"] = [["matchExpressions": [expression]]]
            return .object(selector)
        }
        selector["nodeSelectorTerms"] = .array(
            terms.map { term in
                var members = term.objectValue ?? [:]
                let kept = (members["matchExpressions"]?.arrayValue ?? []).filter { $0["key"]?.stringValue != clusterLabel }
                members["matchExpressions"] = .array(kept + [expression])
                return .object(members)
            }
        )
        return .object(selector)
    }

    /// Whether a toleration covers the Liqo taint (`NoExecute` on `taintKey`).
    static func tolerates(_ toleration: JSONValue, taintKey: String) -> Bool {
        let key = toleration["key"]?.stringValue ?? ""
        let effect = toleration["effect"]?.stringValue ?? ""
        let op = toleration["operator"]?.stringValue ?? "Equal"
        let keyMatches = key == taintKey || (key.isEmpty && op == "Exists")
        return keyMatches && (effect.isEmpty || effect == "NoExecute")
    }

    /// Sets string members of the object at `path`, creating it (and missing parents) when absent.
    private static func setMembers(
        _ members: [String: JSONValue], at path: [String], in object: JSONValue, created: inout Set<[String]>
    ) -> [JSONPatchOperation] {
        let pointer = JSONPointer(tokens: path)
        guard let existing = object.value(at: pointer)?.objectValue else {
            var operations = ensureObjects(upTo: JSONPointer(tokens: Array(path.dropLast())), in: object, created: &created)
            operations.append(.add(pointer, .object(members)))
            created.insert(path)
            return operations
        }
        return members.sorted { $0.key < $1.key }.compactMap { key, value in
            existing[key] == value ? nil : .add(pointer.appending(key), value)
        }
    }

    /// `add` operations creating each missing (or non-object) object along `pointer`, except
    /// those an earlier operation of the patch created (recorded in `created`).
    private static func ensureObjects(upTo pointer: JSONPointer, in object: JSONValue, created: inout Set<[String]>) -> [JSONPatchOperation] {
        var operations: [JSONPatchOperation] = []
        var current = JSONPointer(tokens: [])
        var missing = false
        for token in pointer.tokens {
            current = current.appending(token)
            if created.contains(current.tokens) { continue }
            if missing || object.value(at: current)?.objectValue == nil {
                operations.append(.add(current, [:]))
                created.insert(current.tokens)
                missing = true
            }
        }
        return operations
    }
}
