/// What a strategic merge patch needs to know of a built-in kind: which lists merge (and by
/// which key), which maps honour `$retainKeys`, and the same for every field below.
///
/// The API server reads this from the Go types' `patchStrategy` and `patchMergeKey` tags; here
/// it is written out for the kinds KubeSim serves (from `k8s.io/api` 1.32). A list without an
/// entry is replaced whole, as an `atomic` list is.
final class PatchSchema: Sendable {
    enum ListStrategy: Sendable {
        /// The patch's list replaces the stored one.
        case replace
        /// Elements merge by the value of `mergeKey`; new ones are appended.
        case merge(mergeKey: String)
        /// A list of scalars: the patch's values are added to the stored ones (a set union).
        case mergePrimitives
    }

    let fields: [String: PatchSchema]
    let list: ListStrategy
    /// The schema of each element, for lists.
    let items: PatchSchema?
    /// Whether `$retainKeys` applies to this map (`patchStrategy:"retainKeys"`).
    let retainsKeys: Bool

    init(fields: [String: PatchSchema] = [:], list: ListStrategy = .replace, items: PatchSchema? = nil, retainsKeys: Bool = false) {
        self.fields = fields
        self.list = list
        self.items = items
        self.retainsKeys = retainsKeys
    }

    /// A map with these fields.
    static func object(_ fields: [String: PatchSchema], retainsKeys: Bool = false) -> PatchSchema {
        PatchSchema(fields: fields, retainsKeys: retainsKeys)
    }

    /// A list merged by `key`, each element shaped by `element`.
    static func merging(by key: String, _ element: PatchSchema = PatchSchema()) -> PatchSchema {
        PatchSchema(list: .merge(mergeKey: key), items: element)
    }

    /// A list replaced whole, its elements shaped by `element` (for lists inside).
    static func atomic(_ element: PatchSchema = PatchSchema()) -> PatchSchema {
        PatchSchema(list: .replace, items: element)
    }

    static let primitiveSet = PatchSchema(list: .mergePrimitives)
    static let opaque = PatchSchema()
}
