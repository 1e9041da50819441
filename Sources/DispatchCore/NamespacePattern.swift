/// A glob over Direktiv namespace names: `*` any run of characters, `?` one character,
/// `[abc]` / `[a-z]` / `[!a-z]` one character from (or not from) a set.
public struct NamespacePattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    public let text: String
    private let elements: [Element]

    private enum Element: Sendable, Hashable {
        case literal(Character)
        case anyCharacter
        case anyRun
        case set(negated: Bool, ranges: [ClosedRange<Character>])
    }

    /// Characters Direktiv allows in namespace names.
    static func isNameCharacter(_ character: Character) -> Bool {
        ("a"..."z").contains(character) || ("0"..."9").contains(character) || character == "-" || character == "_" || character == "."
    }

    public init(_ text: String) throws(PatternError) {
        self.text = text
        guard !text.isEmpty else { throw .empty }
        var result: [Element] = []
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            switch character {
            case "*":
                if result.last != .anyRun { result.append(.anyRun) }
            case "?":
                result.append(.anyCharacter)
            case "[":
                guard let close = characters.firstIndex(of: "]") else { throw .unclosedSet(text) }
                var body = characters[characters.startIndex..<close]
                characters = characters[(close + 1)...]
                let negated = body.first == "!"
                if negated { body = body.dropFirst() }
                guard !body.isEmpty else { throw .emptySet(text) }
                var ranges: [ClosedRange<Character>] = []
                while let low = body.popFirst() {
                    guard Self.isNameCharacter(low) else { throw .invalidCharacter(text, low) }
                    if body.first == "-", body.count >= 2 {
                        body.removeFirst()
                        let high = body.removeFirst()
                        guard Self.isNameCharacter(high) else { throw .invalidCharacter(text, high) }
                        guard low <= high else { throw .invalidRange(text, "\(low)-\(high)") }
                        ranges.append(low...high)
                    } else {
                        ranges.append(low...low)
                    }
                }
                result.append(.set(negated: negated, ranges: ranges))
            case "]":
                throw .unopenedSet(text)
            default:
                guard Self.isNameCharacter(character) else { throw .invalidCharacter(text, character) }
                result.append(.literal(character))
            }
        }
        elements = result
    }

    /// Whether the pattern matches every name.
    public var matchesEverything: Bool { elements == [.anyRun] }

    /// Whether `name` matches the whole pattern.
    public func matches(_ name: String) -> Bool {
        Self.match(elements[...], Array(name)[...])
    }

    private static func match(_ pattern: ArraySlice<Element>, _ name: ArraySlice<Character>) -> Bool {
        var pattern = pattern
        var name = name
        // Greedy matching with one backtrack point per `*`, linear in practice for namespace names.
        var starPattern: ArraySlice<Element>?
        var starName: ArraySlice<Character>?
        while true {
            if let element = pattern.first {
                if element == .anyRun {
                    pattern = pattern.dropFirst()
                    starPattern = pattern
                    starName = name
                    continue
                }
                if let character = name.first, matchesOne(element, character) {
                    pattern = pattern.dropFirst()
                    name = name.dropFirst()
                    continue
                }
            } else if name.isEmpty {
                return true
            }
            guard let resumePattern = starPattern, let resumeName = starName, !resumeName.isEmpty else { return false }
            starName = resumeName.dropFirst()
            pattern = resumePattern
            name = resumeName.dropFirst()
        }
    }

    private static func matchesOne(_ element: Element, _ character: Character) -> Bool {
        switch element {
        case .literal(let literal): return literal == character
        case .anyCharacter: return true
        case .anyRun: return true
        case .set(let negated, let ranges): return ranges.contains { $0.contains(character) } != negated
        }
    }

    public var description: String { text }
}

/// Why a namespace pattern was refused.
public enum PatternError: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case unclosedSet(String)
    case unopenedSet(String)
    case emptySet(String)
    case invalidRange(String, String)
    case invalidCharacter(String, Character)

    public var description: String {
        switch self {
        case .empty: "empty pattern"
        case .unclosedSet(let text): "bad glob \"\(text)\": \"[\" without a closing \"]\""
        case .unopenedSet(let text): "bad glob \"\(text)\": \"]\" without an opening \"[\""
        case .emptySet(let text): "bad glob \"\(text)\": empty character set"
        case .invalidRange(let text, let range): "bad glob \"\(text)\": range \(range) is reversed"
        case .invalidCharacter(let text, let character):
            "bad glob \"\(text)\": \"\(character)\" cannot occur in a Direktiv namespace name (lower-case letters, digits, \"-\", \"_\", \".\")"
        }
    }
}
