import KubeModels

/// Ops' steering for one Direktiv namespace, applied before the rules.
///
/// `pin` sends every function of the namespace to one cluster; `prefer` tries clusters in order
/// before the rule's own candidates; `exclude` removes clusters from every choice, fallbacks included.
public struct NamespaceOverride: Sendable, Hashable, Codable {
    public var pin: String?
    public var prefer: [String]?
    public var exclude: [String]?

    public init(pin: String? = nil, prefer: [String]? = nil, exclude: [String]? = nil) {
        self.pin = pin
        self.prefer = prefer
        self.exclude = exclude
    }

    /// Problems that make the override unusable; empty when it is valid.
    public func validationErrors() -> [String] {
        var errors: [String] = []
        let prefer = prefer ?? []
        let exclude = exclude ?? []
        if pin == nil, prefer.isEmpty, exclude.isEmpty {
            errors.append("an override needs \"pin\", \"prefer\" or \"exclude\"")
        }
        if pin != nil, !prefer.isEmpty {
            errors.append("\"pin\" and \"prefer\" cannot be combined")
        }
        for name in [pin].compactMap({ $0 }) + prefer + exclude where name.isEmpty || !KubernetesNames.isLabelValue(name) {
            errors.append("\"\(name)\" is not a valid cluster name")
        }
        if let pin, exclude.contains(pin) {
            errors.append("\"\(pin)\" is both pinned and excluded")
        }
        for name in prefer where exclude.contains(name) {
            errors.append("\"\(name)\" is both preferred and excluded")
        }
        for (label, list) in [("prefer", prefer), ("exclude", exclude)] where Set(list).count != list.count {
            errors.append("\"\(label)\" lists a cluster twice")
        }
        return errors
    }

    /// Clusters the override names, for warnings about clusters not in the inventory.
    public var namedClusters: [String] {
        [pin].compactMap { $0 } + (prefer ?? []) + (exclude ?? [])
    }
}
