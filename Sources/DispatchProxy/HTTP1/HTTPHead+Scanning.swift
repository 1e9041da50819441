/// The byte classes of a message head, checked without a branch per character class: every
/// call through the proxy has two heads checked byte by byte.
extension HTTPHead.Parser {
    /// RFC 9110 tchar as a set of 128 bits: bytes 0-63 in the first word, 64-127 in the second.
    private static var tokenCharactersBelow64: UInt64 { 0x03FF_6CFA_0000_0000 }
    private static var tokenCharactersFrom64: UInt64 { 0x57FF_FFFF_C7FF_FFFE }

    /// RFC 9110 tchar.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        let set = byte < 64 ? tokenCharactersBelow64 : byte < 128 ? tokenCharactersFrom64 : 0
        return (set >> UInt64(byte & 63)) & 1 == 1
    }

    /// VCHAR, obs-text, SP and HTAB.
    static func isFieldValueCharacter(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\t") || (byte >= 0x20 && byte != 0x7F)
    }

    /// Whether `range` of `raw` holds field-value characters only.
    static func allFieldValueCharacters(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        // Eight bytes at a time; a word with a control character (a tab is one, and allowed)
        // or DEL is looked at byte by byte.
        allSatisfy(raw, range, isFieldValueCharacter) { word in
            Word.hasByte(below: 0x20, in: word) || Word.hasByte(equalTo: 0x7F, in: word)
        }
    }

    /// Whether `range` of `raw` holds visible ASCII only (a request-target's bytes).
    static func allVisibleASCII(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        allSatisfy(
            raw, range, { $0 > 0x20 && $0 < 0x7F },
            mayFail: { word in Word.hasByte(below: 0x21, in: word) || Word.hasByte(above: 0x7E, in: word) }
        )
    }

    /// Whether every byte of `range` passes `accepts`; words that `mayFail` clears are skipped whole.
    private static func allSatisfy(
        _ raw: UnsafeRawBufferPointer,
        _ range: Range<Int>,
        _ accepts: (UInt8) -> Bool,
        mayFail: (UInt64) -> Bool
    ) -> Bool {
        var index = range.lowerBound
        while index + 8 <= range.upperBound {
            if mayFail(raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                for offset in index..<index + 8 where !accepts(raw[offset]) { return false }
            }
            index += 8
        }
        while index < range.upperBound {
            guard accepts(raw[index]) else { return false }
            index += 1
        }
        return true
    }

    /// Tests on the eight bytes of a word at once; each is exact about whether any byte matches.
    enum Word {
        private static var ones: UInt64 { 0x0101_0101_0101_0101 }
        private static var highBits: UInt64 { 0x8080_8080_8080_8080 }

        /// Whether a byte of `word` is below `limit` (at most 128).
        static func hasByte(below limit: UInt8, in word: UInt64) -> Bool {
            (word &- ones &* UInt64(limit)) & ~word & highBits != 0
        }

        /// Whether a byte of `word` is above `limit` (at most 127).
        static func hasByte(above limit: UInt8, in word: UInt64) -> Bool {
            ((word &+ ones &* UInt64(127 - limit)) | word) & highBits != 0
        }

        /// Whether a byte of `word` is `byte`.
        static func hasByte(equalTo byte: UInt8, in word: UInt64) -> Bool {
            hasByte(below: 1, in: word ^ (ones &* UInt64(byte)))
        }
    }
}
