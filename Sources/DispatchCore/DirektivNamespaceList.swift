import KubeModels

/// The answer of Direktiv's namespace list, `GET /api/v2/namespaces` (Direktiv 0.8.3 and later).
///
/// Direktiv wraps every answer as `{"data": ...}`; the list is an array of namespace objects
/// (`name`, `createdAt`, `updatedAt`, `mirror`, `isSystemNamespace`), an empty array when
/// there are none, or `null` (0.8.x encodes an empty Go slice that way).
public struct DirektivNamespaceList: Sendable, Hashable {
    /// Valid namespace names, sorted, without duplicates.
    public var names: [String]
    /// Entries that were not objects with a valid Direktiv namespace name.
    public var skipped: Int

    public init(names: [String], skipped: Int = 0) {
        self.names = names
        self.skipped = skipped
    }

    /// The path under the API's base URL.
    public static let path = "/api/v2/namespaces"

    /// The largest answer read; 100,000 namespaces of typical size fit well below it.
    public static let maximumBodyBytes = 16 << 20

    /// Why an answer could not be read.
    public struct FormatError: Error, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// Reads an answer body. Names that Direktiv itself would refuse are skipped, never trusted:
    /// they would become cluster names and metric labels.
    public static func parse(_ body: some Collection<UInt8>) throws(FormatError) -> DirektivNamespaceList {
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            throw FormatError(description: "not JSON: \(error)")
        }
        guard case .object = value, let data = value["data"] else {
            throw FormatError(description: "expected an object with \"data\", as Direktiv's API answers")
        }
        let entries: [JSONValue]
        switch data {
        case .null: entries = []
        case .array(let elements): entries = elements
        default: throw FormatError(description: "\"data\" is not a list of namespaces")
        }
        var names = Set<String>()
        var skipped = 0
        for entry in entries {
            guard let name = entry["name"]?.stringValue, DirektivNames.isNamespaceName(name) else {
                skipped += 1
                continue
            }
            names.insert(name)
        }
        return DirektivNamespaceList(names: names.sorted(), skipped: skipped)
    }
}
