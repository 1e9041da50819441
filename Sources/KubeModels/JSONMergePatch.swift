/// Applies JSON Merge Patch documents (RFC 7386), the `application/merge-patch+json` patch type.
public enum JSONMergePatch {
    /// Merges `patch` into `target`: objects merge member by member, `null` deletes, anything else replaces.
    public static func apply(_ patch: JSONValue, to target: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var result = target.objectValue ?? [:]
        for (key, value) in patchMembers {
            if value == .null {
                result.removeValue(forKey: key)
            } else {
                result[key] = apply(value, to: result[key] ?? .null)
            }
        }
        return .object(result)
    }
}
