import KubeModels

extension FunctionSpec {
    static let keys = ["namespace", "name", "image", "cmd", "size", "minScale", "envs"]

    /// Reads `POST /v1/functions`' body strictly: known keys only, each with its type.
    public init(json: JSONValue) throws(FunctionSpecError) {
        guard case .object(let members) = json else { throw FunctionSpecError(field: "body", reason: "expected a JSON object") }
        for key in members.keys.sorted() where !Self.keys.contains(key) {
            throw FunctionSpecError(field: key, reason: "unknown key (allowed: \(Self.keys.joined(separator: ", ")))")
        }
        func string(_ key: String, required: Bool) throws(FunctionSpecError) -> String? {
            guard let value = members[key], value != .null else {
                if required { throw FunctionSpecError(field: key, reason: "is required") }
                return nil
            }
            guard let text = value.stringValue else { throw FunctionSpecError(field: key, reason: "must be a string") }
            return text
        }
        let namespace = try string("namespace", required: true)!
        let name = try string("name", required: true)!
        let image = try string("image", required: true)!
        let cmd = try string("cmd", required: false)
        var size: FunctionSize?
        if let text = try string("size", required: false) {
            guard let parsed = FunctionSize(rawValue: text) else {
                throw FunctionSpecError(field: "size", reason: "\"\(text)\" is not small, medium or large")
            }
            size = parsed
        }
        var minScale: Int?
        if let value = members["minScale"], value != .null {
            guard let number = value.integerValue, let count = Int(exactly: number) else {
                throw FunctionSpecError(field: "minScale", reason: "must be a whole number")
            }
            minScale = count
        }
        var envs: [String: String]?
        if let value = members["envs"], value != .null {
            guard case .object(let entries) = value else {
                throw FunctionSpecError(field: "envs", reason: "must be an object of names to string values")
            }
            var table: [String: String] = [:]
            for (key, entry) in entries {
                guard let text = entry.stringValue else { throw FunctionSpecError(field: "envs.\(key)", reason: "must be a string") }
                table[key] = text
            }
            envs = table
        }
        self.init(namespace: namespace, name: name, image: image, cmd: cmd, size: size, minScale: minScale, envs: envs)
        try DirektivServiceBuilder.validate(self)
    }
}
