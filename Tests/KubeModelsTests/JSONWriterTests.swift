import Foundation
import KubeModels
import Testing

@Suite struct JSONWriterTests {
    @Test func roundTripsThroughTheParserExactly() throws {
        let value: JSONValue = [
            "quote\"back\\slash": "line\nfeed\ttab\r\u{01}ctrl é 😀 </script>",
            "numbers": [0, -1, 9_223_372_036_854_775_807, 1.5, -2.25e-10, 1e300],
            "nested": ["a": [true, false, .null], "b": [:], "c": []],
        ]
        let bytes = value.jsonBytes
        #expect(try JSONValue.parse(bytes) == value)
        // Foundation reads what the writer writes.
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        #expect(foundation["quote\"back\\slash"] == value["quote\"back\\slash"])
    }

    @Test func keysAreSortedAndOutputIsDeterministic() throws {
        let a: JSONValue = ["b": 1, "a": 2, "c": ["z": 1, "y": 2]]
        #expect(String(decoding: a.jsonBytes, as: UTF8.self) == #"{"a":2,"b":1,"c":{"y":2,"z":1}}"#)
        #expect(
            String(decoding: try a.encoded(pretty: true), as: UTF8.self)
                == "{\n  \"a\": 2,\n  \"b\": 1,\n  \"c\": {\n    \"y\": 2,\n    \"z\": 1\n  }\n}")
        #expect(JSONValue.number(3.0).jsonBytes == Array("3".utf8))
    }

    @Test func examplesRoundTrip() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples")
        for file in ["seed-pods.json", "direktiv/ksvc-0.6.7.json"] {
            let value = try JSONValue.parse(try Data(contentsOf: root.appendingPathComponent(file)))
            #expect(try JSONValue.parse(value.jsonBytes) == value)
        }
    }
}
