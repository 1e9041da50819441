import Foundation
import KubeModels
import Testing

@Suite struct JSONParserTests {
    func parse(_ text: String) throws -> JSONValue {
        try JSONValue.parse(Array(text.utf8))
    }

    @Test func parsesEveryKindOfValue() throws {
        let value = try parse(
            #" {"s": "a\"b\\c\/d\n\tA\u00e9\ud83d\ude00", "i": -42, "big": 9223372036854775807, "huge": 9223372036854775808, "f": 1.5e3, "z": 0, "t": true, "n": null, "a": [1, [], {}], "e": {}} "#
        )
        #expect(value["s"] == .string("a\"b\\c/d\n\tAé😀"))
        #expect(value["i"] == .integer(-42))
        #expect(value["big"] == .integer(Int64.max))
        #expect(value["huge"] == .numberText("9223372036854775808"), "beyond Int64, and no Double holds it exactly")
        #expect(value["f"] == .number(1500))
        #expect(value["z"] == .integer(0))
        #expect(value["t"] == .bool(true))
        #expect(value["n"] == .null)
        #expect(value["a"] == [1, [], [:]])
        #expect(value["e"] == [:])
    }

    /// Numbers that neither Int64 nor Double holds keep their text, so a value copied from a
    /// user's object is written back unchanged (hardening review, defect 8).
    @Test(arguments: [
        ("12345678901234567890", true), ("1e999", true), ("-1e999", true), ("1e-999", true), ("0.1000000000000000055511151231257827", true),
        ("4.9e-324", true), ("0.1", false), ("1.5e3", false), ("-2.5", false), ("1e300", false), ("123.456", false), ("0.30000000000000004", false),
    ])
    func numbersRoundTripAsTheyCame(text: String, keptAsText: Bool) throws {
        let value = try parse("[\(text)]")
        guard case .array(let elements) = value, let number = elements.first else { return }
        if case .numberText = number {
            #expect(keptAsText, "\(text)")
        } else {
            #expect(!keptAsText, "\(text) became \(number)")
        }
        // Written back: the same number (as text, or as the shortest text of the same Double).
        let written = String(decoding: value.jsonBytes, as: UTF8.self)
        if keptAsText {
            #expect(written == "[\(text)]")
        } else {
            // An integral Double is written without a fraction and read back as an integer.
            let back = try parse(written)[0]
            #expect(back == number || back?.integerValue.map { Double($0) } == Double(text), "\(text) written as \(written)")
        }
    }

    @Test(arguments: [
        "", "   ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "-", "1.", "1e", ".5", "+1", "tru", "nul", "\"unterminated",
        "\"a\u{01}b\"", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "[1 2]", "{} {}", "{1: 2}", "NaN", "\"\\u12g4\"",
    ])
    func refusesMalformedDocuments(text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([UInt8(ascii: "\""), 0xFF, UInt8(ascii: "\"")]) }
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONParseError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try parse(fine) }
    }

    @Test func errorsSayWhere() {
        do {
            _ = try JSONValue.parse(Array("{\"a\": tru}".utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 6)
            #expect(error.description.hasPrefix("invalid JSON at byte 6"))
        }
    }

    /// The parser and Foundation's decoder agree on every example document.
    @Test func agreesWithFoundationOnTheExamples() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples")
        let files = [
            "seed-nodes.json", "seed-pods.json", "overrides.json", "direktiv/ksvc-0.6.7.json", "direktiv/ksvc-0.8.10.json",
            "direktiv/deployment-0.10.json",
        ]
        for file in files {
            let data = try Data(contentsOf: root.appendingPathComponent(file))
            #expect(try JSONValue.parse(data) == (try JSONDecoder().decode(JSONValue.self, from: data)), "\(file)")
        }
    }
}
