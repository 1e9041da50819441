import KubeModels
import Testing

@Suite struct QuantityTests {
    @Test(arguments: [
        ("250m", Int64(250), Int64(1)),
        ("0.5", 500, 1),
        ("2", 2000, 2),
        ("512Mi", 536_870_912_000, 536_870_912),
        ("1G", 1_000_000_000_000, 1_000_000_000),
        ("1e3", 1_000_000, 1000),
        ("1E3", 1_000_000, 1000),
        ("128974848", 128_974_848_000, 128_974_848),
        ("1.5Gi", 1_610_612_736_000, 1_610_612_736),
        ("64M", 64_000_000_000, 64_000_000),
        ("100k", 100_000_000, 100_000),
        ("1Ki", 1_024_000, 1024),
        ("0", 0, 0),
        ("0.1", 100, 1),
        ("+1", 1000, 1),
        (".5", 500, 1),
        ("5.", 5000, 5),
        ("1e-3", 1, 1),
        ("12e+2", 1_200_000, 1200),
        ("100u", 1, 1),
        ("1n", 1, 1),
        ("0.0001", 1, 1),
        ("1.0000000000000000000001", 1001, 2),
        ("0.000000000000000000000000000000000000000001", 1, 1),
        ("7Ei", 8_070_450_532_247_928_832 / 1000 * 1000 == 0 ? 0 : -1, 8_070_450_532_247_928_832),
    ])
    func parsesExactly(text: String, milli: Int64, value: Int64) throws {
        let quantity = try Quantity(parsing: text)
        if milli >= 0 {
            #expect(try quantity.milliValue() == milli)
        } else {
            #expect(throws: QuantityError.tooLarge(text)) { try quantity.milliValue() }
        }
        #expect(try quantity.value() == value)
    }

    @Test func negativeValuesRoundAwayFromZero() throws {
        let quantity = try Quantity(parsing: "-1.5m")
        #expect(quantity.isNegative)
        #expect(try quantity.milliValue() == -2)
    }

    @Test(arguments: [
        "", "abc", "1.2.3", "Mi", "1Mib", "--1", "1e", "0x10", " 1", "1 ", "1.5Q", "1e1.5", ".", "+", "1m1", "1ki", "1 Gi", "e3", "1e+",
    ])
    func refusesInvalidText(text: String) {
        #expect(throws: QuantityError.self) { try Quantity(parsing: text) }
    }

    @Test func refusesValuesTooLargeForInt64() throws {
        let huge = try Quantity(parsing: "1e30")
        #expect(throws: QuantityError.tooLarge("1e30")) { try huge.value() }
        #expect(throws: QuantityError.tooPrecise("1234567890123456789012345678901234567")) {
            try Quantity(parsing: "1234567890123456789012345678901234567")
        }
    }

    @Test func decodesFromJSONStringsAndNumbers() throws {
        let value = try JSONValue.parse(Array(#"{"a": "250m", "b": 2, "c": 0.5}"#.utf8))
        let decoded = try value.decode(as: [String: Quantity].self)
        #expect(try decoded["a"]?.milliValue() == 250)
        #expect(try decoded["b"]?.milliValue() == 2000)
        #expect(try decoded["c"]?.milliValue() == 500)
        let bad = try JSONValue.parse(Array(#"{"a": "lots"}"#.utf8))
        #expect(throws: DecodingError.self) { try bad.decode(as: [String: Quantity].self) }
    }

    @Test func formatsResourcesInTheShortestExactUnit() {
        #expect(Resources.formatMemory(64_000_000) == "64M")
        #expect(Resources.formatMemory(536_870_912) == "512Mi")
        #expect(Resources.formatMemory(1_610_612_736) == "1536Mi")
        #expect(Resources.formatMemory(1234) == "1234")
        #expect(Resources.formatCPU(2000) == "2")
        #expect(Resources.formatCPU(250) == "250m")
    }
}
