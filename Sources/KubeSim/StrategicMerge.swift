import KubeModels

/// Strategic merge patch, simplified to a merge patch.
///
/// The API server merges lists of built-in types by their merge keys; KubeSim replaces lists
/// instead (as a merge patch does) and drops the `$`-directives kubectl adds, which is enough
/// for `kubectl apply` of the objects the simulator serves.
enum StrategicMerge {
    static func simplified(_ patch: JSONValue) -> JSONValue {
        switch patch {
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, value) in members where !key.hasPrefix("$") {
                result[key] = simplified(value)
            }
            return .object(result)
        case .array(let elements):
            return .array(elements.map(simplified))
        default:
            return patch
        }
    }
}
