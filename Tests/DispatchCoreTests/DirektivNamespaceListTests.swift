import DispatchCore
import Testing

/// The shapes Direktiv's `nsController.list` writes (pkg/api/namespaces.go, 0.8.10 to 0.10.0).
@Suite struct DirektivNamespaceListTests {
    func parse(_ text: String) throws -> DirektivNamespaceList {
        try DirektivNamespaceList.parse(Array(text.utf8))
    }

    @Test func readsTheNamesOfDirektivsAnswer() throws {
        let list = try parse(
            """
            {"data":[{"name":"team-b","createdAt":"2026-12-01T10:00:00Z","updatedAt":"2026-12-01T10:00:00Z","mirror":null,"isSystemNamespace":false},
            {"name":"system","createdAt":"2026-12-01T10:00:00Z","updatedAt":"2026-12-01T10:00:00Z","mirror":{"url":"https://git.example/x","gitRef":"main","authType":"public","insecure":false},"isSystemNamespace":true},
            {"name":"team-a","createdAt":"2026-12-01T10:00:00Z","updatedAt":"2026-12-01T10:00:00Z","mirror":null,"isSystemNamespace":false}]}
            """)
        #expect(list == DirektivNamespaceList(names: ["system", "team-a", "team-b"]))
    }

    @Test func anEmptyListIsAnArrayOrNull() throws {
        #expect(try parse(#"{"data":[]}"#).names.isEmpty)
        #expect(try parse("{\"data\":null}\n").names.isEmpty, "0.8.x encodes an empty slice as null")
    }

    @Test func namesDirektivWouldRefuseAreSkipped() throws {
        let list = try parse(
            #"{"data":[{"name":"ok"},{"name":"Upper"},{"name":"a/b"},{"name":""},{"name":7},{},"text",{"name":"ok"},{"name":"x\u0000"}]}"#)
        #expect(list.names == ["ok"])
        #expect(list.skipped == 7)
    }

    @Test func otherAnswersAreRefused() {
        for body in ["", "[]", #"{"error":{"code":"access_token_denied","message":"denied"}}"#, #"{"data":{"name":"a"}}"#, "{\"data\":["] {
            #expect(throws: DirektivNamespaceList.FormatError.self, "\(body)") { try parse(body) }
        }
    }
}
