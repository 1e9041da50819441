/// Finds the Direktiv namespace at the start of a 0.8.1+ service ID, among known names.
///
/// Built once per set of names: each name's ID text (`DirektivNames.idText`) maps to the name,
/// so resolving an ID looks up only the ID's prefixes that end at a `-`, longest first.
public struct NamespaceResolver: Sendable {
    private var byText: [String: String] = [:]
    private var texts: [String] = []
    public let names: [String]

    public init(names: [String]) {
        self.names = names
        // The first name wins when two spell the same ID text (`my_ns` and `my-ns`).
        for name in Set(names).sorted() {
            let text = DirektivNames.idText(name)
            guard !text.isEmpty, byText[text] == nil else { continue }
            byText[text] = name
            texts.append(text)
        }
    }

    /// The namespace and the rest of the ID text (name and path), when a known namespace begins it.
    public func resolve(_ id: String) -> (namespace: String, remainder: String)? {
        let text = FunctionIdentity.serviceIDText(id)
        let bytes = Array(text.utf8)
        // The ID text is cut at 50 characters, possibly inside a long namespace name: that name
        // is longer than any prefix of the text, so it is the longest match.
        if bytes.count == 50, let match = texts.filter({ $0.utf8.count > 50 && $0.hasPrefix(text) }).max(by: { $0.utf8.count < $1.utf8.count }) {
            return (byText[match]!, "")
        }
        // Longest first: `team-a` before `team` for "team-a-fn".
        for end in stride(from: bytes.count, through: 1, by: -1) where end == bytes.count || bytes[end] == UInt8(ascii: "-") {
            let prefix = String(decoding: bytes[..<end], as: UTF8.self)
            if let name = byText[prefix] {
                return (name, end == bytes.count ? "" : String(decoding: bytes[(end + 1)...], as: UTF8.self))
            }
        }
        return nil
    }
}
