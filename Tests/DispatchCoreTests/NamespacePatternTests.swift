import DispatchCore
import KubeModels
import Testing

@Suite struct NamespacePatternTests {
    @Test(arguments: [
        ("*", "anything", true), ("team-*", "team-a", true), ("team-*", "team-", true), ("team-*", "teams", false),
        ("team-?", "team-a", true), ("team-?", "team-ab", false), ("*-prod", "shop-prod", true), ("*-prod", "prod", false),
        ("[ab]*", "alpha", true), ("[ab]*", "charlie", false), ("[!ab]*", "charlie", true), ("t[0-9]", "t7", true),
        ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false), ("exact", "exact", true), ("exact", "exactly", false),
        ("**", "x", true), ("*a", "aaaa", true),
    ])
    func matches(pattern: String, name: String, expected: Bool) throws {
        #expect(try NamespacePattern(pattern).matches(name) == expected)
    }

    @Test(arguments: ["", "[", "a]", "[]", "A*", "team/x", "[b-a]", "x y"])
    func refusesBadPatterns(pattern: String) {
        #expect(throws: PatternError.self) { try NamespacePattern(pattern) }
    }
}
