import KubeModels
import Testing

/// The examples of RFC 6902 appendix A, and the error cases around them.
@Suite struct JSONPatchTests {
    func json(_ text: String) throws -> JSONValue {
        try JSONValue.parse(Array(text.utf8))
    }

    func patch(_ text: String) throws -> [JSONPatchOperation] {
        try json(text).decode(as: [JSONPatchOperation].self)
    }

    @Test(arguments: [
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux"}]"#, #"{"baz":"qux","foo":"bar"}"#),
        (#"{"foo":["bar","baz"]}"#, #"[{"op":"add","path":"/foo/1","value":"qux"}]"#, #"{"foo":["bar","qux","baz"]}"#),
        (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"remove","path":"/baz"}]"#, #"{"foo":"bar"}"#),
        (#"{"foo":["bar","qux","baz"]}"#, #"[{"op":"remove","path":"/foo/1"}]"#, #"{"foo":["bar","baz"]}"#),
        (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"replace","path":"/baz","value":"boo"}]"#, #"{"baz":"boo","foo":"bar"}"#),
        (
            #"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#, #"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#,
            #"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#
        ),
        (#"{"foo":["all","grass","cows","eat"]}"#, #"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#, #"{"foo":["all","cows","eat","grass"]}"#),
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#, #"{"foo":"bar","child":{"grandchild":{}}}"#),
        (#"{"foo":["bar"]}"#, #"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#, #"{"foo":["bar",["abc","def"]]}"#),
        (#"{"foo":null}"#, #"[{"op":"test","path":"/foo","value":null}]"#, #"{"foo":null}"#),
        (#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":10}]"#, #"{"/":9,"~1":10}"#),
        (#"{"a/b":1}"#, #"[{"op":"copy","from":"/a~1b","path":"/c"}]"#, #"{"a/b":1,"c":1}"#),
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"","value":[1]}]"#, #"[1]"#),
        (#"{"foo":1}"#, #"[{"op":"add","path":"/foo","value":null}]"#, #"{"foo":null}"#),
        (#"{"n":1}"#, #"[{"op":"test","path":"/n","value":1.0}]"#, #"{"n":1}"#),
    ])
    func appliesRFCExamples(document: String, operations: String, expected: String) throws {
        #expect(try JSONPatch.apply(patch(operations), to: json(document)) == json(expected))
    }

    @Test func testOperationFailureRefusesTheWholePatch() throws {
        let document = try json(#"{"baz":"qux","foo":["a",2,"c"]}"#)
        let operations = try patch(#"[{"op":"add","path":"/x","value":1},{"op":"test","path":"/baz","value":"bar"}]"#)
        #expect(throws: JSONPatchError.testFailed(operation: 1, path: "/baz")) { try JSONPatch.apply(operations, to: document) }
    }

    @Test(arguments: [
        (#"[{"op":"add","path":"/baz/bat","value":"qux"}]"#, "does not exist"),
        (#"[{"op":"remove","path":"/nope"}]"#, "does not exist"),
        (#"[{"op":"replace","path":"/nope","value":1}]"#, "does not exist"),
        (#"[{"op":"add","path":"/arr/5","value":1}]"#, "out of range"),
        (#"[{"op":"add","path":"/arr/01","value":1}]"#, "out of range"),
        (#"[{"op":"add","path":"/foo"}]"#, "missing \"value\""),
        (#"[{"op":"move","path":"/a"}]"#, "missing \"from\""),
        (#"[{"op":"move","from":"/obj","path":"/obj/child"}]"#, "into one of its children"),
        (#"[{"op":"add","path":"nope","value":1}]"#, "invalid JSON pointer"),
        (#"[{"op":"add","path":"/a~2","value":1}]"#, "invalid JSON pointer"),
        (#"[{"op":"add","path":"/foo/x","value":1}]"#, "parent is a string"),
    ])
    func refusesBadOperations(operations: String, message: String) throws {
        let document = try json(#"{"foo":"bar","arr":[1,2],"obj":{}}"#)
        do {
            _ = try JSONPatch.apply(patch(operations), to: document)
            Issue.record("expected an error containing \(message)")
        } catch {
            #expect(String(describing: error).contains(message), "\(error)")
        }
    }

    @Test func unknownOperationDoesNotDecode() {
        #expect(throws: DecodingError.self) { try patch(#"[{"op":"frobnicate","path":"/a"}]"#) }
    }

    @Test func operationsRoundTripWithExplicitNull() throws {
        let operations = try patch(#"[{"op":"add","path":"/a","value":null},{"op":"remove","path":"/b"}]"#)
        #expect(operations[0].value == .null)
        #expect(operations[1].value == nil)
        let encoded = try JSONValue(encoding: operations)
        #expect(encoded == (try json(#"[{"op":"add","path":"/a","value":null},{"op":"remove","path":"/b"}]"#)))
    }

    @Test func pointerEscapingRoundTrips() throws {
        let pointer = try JSONPointer(parsing: "/metadata/annotations/dispatch.direktiv.io~1cluster/~0x")
        #expect(pointer.tokens == ["metadata", "annotations", "dispatch.direktiv.io/cluster", "~x"])
        #expect(pointer.description == "/metadata/annotations/dispatch.direktiv.io~1cluster/~0x")
    }
}
