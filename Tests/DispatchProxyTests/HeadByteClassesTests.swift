import NIOCore
import Testing

@testable import DispatchProxy

/// The head parser's byte classes, checked eight bytes at a time, against their definitions.
@Suite struct HeadByteClassesTests {
    typealias Parser = HTTPHead.Parser

    @Test func tokenCharactersAreRFC9110sTchar() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(Parser.isTokenCharacter(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }

    /// Every byte value at every position of runs up to 19 bytes: the word path, the tail and their seam.
    @Test func runsAreCheckedLikeTheirBytes() {
        for length in 1...19 {
            for position in 0..<length {
                for byte in UInt8.min...UInt8.max {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length + 2)
                    bytes[1 + position] = byte
                    bytes.withUnsafeBytes { raw in
                        let range = 1..<1 + length
                        #expect(Parser.allFieldValueCharacters(raw, range) == Parser.isFieldValueCharacter(byte))
                        #expect(Parser.allVisibleASCII(raw, range) == (byte > 0x20 && byte < 0x7F))
                    }
                }
            }
        }
    }

    @Test func wordTestsAgreeWithTheirBytes() {
        var generator = SystemRandomNumberGenerator()
        let interesting: [UInt8] = [0x00, 0x01, 0x09, 0x1F, 0x20, 0x21, 0x7E, 0x7F, 0x80, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<8).map { _ in
                Bool.random(using: &generator) ? interesting.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            #expect(Parser.Word.hasByte(below: 0x20, in: word) == bytes.contains { $0 < 0x20 }, "\(bytes)")
            #expect(Parser.Word.hasByte(below: 0x21, in: word) == bytes.contains { $0 < 0x21 }, "\(bytes)")
            #expect(Parser.Word.hasByte(above: 0x7E, in: word) == bytes.contains { $0 > 0x7E }, "\(bytes)")
            #expect(Parser.Word.hasByte(equalTo: 0x7F, in: word) == bytes.contains(0x7F), "\(bytes)")
        }
    }
}
