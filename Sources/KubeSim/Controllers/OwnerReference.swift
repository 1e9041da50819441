import KubeModels

/// Owner references as controllers write and read them.
enum OwnerReference {
    /// The reference a controller puts on what it makes (`controller` and `blockOwnerDeletion`
    /// true, as the ReplicaSet, Deployment and EndpointSlice controllers set them).
    static func controller(_ owner: JSONValue, kind: String, apiVersion: String) -> JSONValue {
        [
            "apiVersion": .string(apiVersion), "kind": .string(kind), "name": owner[path: "metadata", "name"] ?? "",
            "uid": owner[path: "metadata", "uid"] ?? "", "controller": true, "blockOwnerDeletion": true,
        ]
    }

    /// The uid of the object's controlling owner.
    static func controllerUID(_ object: JSONValue) -> String? {
        object[path: "metadata", "ownerReferences"]?.arrayValue?.first { $0["controller"]?.boolValue == true }?["uid"]?.stringValue
    }

    static func isControlled(_ object: JSONValue, by owner: JSONValue) -> Bool {
        guard let uid = owner[path: "metadata", "uid"]?.stringValue else { return false }
        return controllerUID(object) == uid
    }
}
