/// A coding key for any member name.
struct MemberKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer {
    /// Decodes a JSON object of values into a dictionary, member by member.
    ///
    /// Faster than the generic `Dictionary` decoding for the maps every Kubernetes object carries
    /// (labels, annotations, resource lists), and `null` reads as absent.
    func decodeMapIfPresent<Value: Decodable>(_ type: Value.Type, forKey key: Key) throws -> [String: Value]? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        let members = try nestedContainer(keyedBy: MemberKey.self, forKey: key)
        var result: [String: Value] = [:]
        result.reserveCapacity(members.allKeys.count)
        for member in members.allKeys {
            result[member.stringValue] = try members.decode(Value.self, forKey: member)
        }
        return result
    }
}
