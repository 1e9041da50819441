/// A Kubernetes `resource.Quantity` such as `250m`, `1.5Gi` or `1e3`, parsed exactly.
///
/// The value is kept as an exact rational `mantissa × 10^decimalExponent × 2^binaryExponent`, so
/// conversions to milli-units and bytes round the way Kubernetes does (up, away from zero) and
/// never through floating point.
public struct Quantity: Sendable, Hashable, CustomStringConvertible {
    /// The text as written.
    public let text: String
    let mantissa: Int128
    let decimalExponent: Int
    let binaryExponent: Int

    /// Parses the Kubernetes quantity grammar: a signed decimal number and an optional suffix
    /// (`Ki`…`Ei`, `n u m k M G T P E`, or `e`/`E` and a signed integer exponent).
    public init(parsing text: String) throws(QuantityError) {
        self.text = text
        // Parsed from UTF-8 bytes without building strings: the inventory parses millions of these.
        var utf8 = text.utf8[...]
        guard !utf8.isEmpty else { throw .empty }
        var negative = false
        if let sign = utf8.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            utf8 = utf8.dropFirst()
        }

        var mantissa: Int128 = 0
        var significantDigits = 0
        // Zeros after the last non-zero digit only shift the exponent; they join the mantissa
        // once a non-zero digit follows, so long but exact inputs stay representable.
        var pendingZeros = 0
        var decimalExponent = 0
        var digitCount = 0
        var inFraction = false
        while let byte = utf8.first {
            if byte == UInt8(ascii: "."), !inFraction {
                inFraction = true
                utf8 = utf8.dropFirst()
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
            utf8 = utf8.dropFirst()
            digitCount += 1
            if inFraction { decimalExponent -= 1 }
            let digit = Int128(byte - UInt8(ascii: "0"))
            if digit == 0 {
                if mantissa != 0 { pendingZeros += 1 }
                continue
            }
            significantDigits += pendingZeros + 1
            guard significantDigits <= 36 else { throw .tooPrecise(text) }
            for _ in 0..<pendingZeros { mantissa *= 10 }
            mantissa = mantissa * 10 + digit
            pendingZeros = 0
        }
        guard digitCount > 0 else { throw .invalid(text) }
        decimalExponent += pendingZeros

        var binaryExponent = 0
        switch Array(utf8) {
        case []: break
        case [UInt8(ascii: "n")]: decimalExponent -= 9
        case [UInt8(ascii: "u")]: decimalExponent -= 6
        case [UInt8(ascii: "m")]: decimalExponent -= 3
        case [UInt8(ascii: "k")]: decimalExponent += 3
        case [UInt8(ascii: "M")]: decimalExponent += 6
        case [UInt8(ascii: "G")]: decimalExponent += 9
        case [UInt8(ascii: "T")]: decimalExponent += 12
        case [UInt8(ascii: "P")]: decimalExponent += 15
        case [UInt8(ascii: "E")]: decimalExponent += 18
        case let suffix where suffix.count == 2 && suffix[1] == UInt8(ascii: "i"):
            switch suffix[0] {
            case UInt8(ascii: "K"): binaryExponent = 10
            case UInt8(ascii: "M"): binaryExponent = 20
            case UInt8(ascii: "G"): binaryExponent = 30
            case UInt8(ascii: "T"): binaryExponent = 40
            case UInt8(ascii: "P"): binaryExponent = 50
            case UInt8(ascii: "E"): binaryExponent = 60
            default: throw .invalid(text)
            }
        case let suffix:
            guard let first = suffix.first, first == UInt8(ascii: "e") || first == UInt8(ascii: "E"),
                let exponent = Self.parseExponent(suffix.dropFirst())
            else { throw .invalid(text) }
            decimalExponent += exponent
        }

        if mantissa == 0 {
            self.mantissa = 0
            self.decimalExponent = 0
            self.binaryExponent = 0
        } else {
            self.mantissa = negative ? -mantissa : mantissa
            self.decimalExponent = decimalExponent
            self.binaryExponent = binaryExponent
        }
    }

    private static func parseExponent(_ bytes: ArraySlice<UInt8>) -> Int? {
        var rest = bytes
        var negative = false
        if let sign = rest.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty, rest.count <= 6 else { return nil }
        var value = 0
        for byte in rest {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }

    public var description: String { text }

    public var isNegative: Bool { mantissa < 0 }
    public var isZero: Bool { mantissa == 0 }

    /// The value in thousandths (milli-cores for CPU), rounded up away from zero as `MilliValue()` does.
    public func milliValue() throws(QuantityError) -> Int64 {
        try scaled(byPowerOfTen: 3)
    }

    /// The value in whole units (bytes for memory), rounded up away from zero as `Value()` does.
    public func value() throws(QuantityError) -> Int64 {
        try scaled(byPowerOfTen: 0)
    }

    private func scaled(byPowerOfTen extra: Int) throws(QuantityError) -> Int64 {
        if mantissa == 0 { return 0 }
        var numerator = mantissa.magnitude
        var denominator: UInt128 = 1
        let exponent = decimalExponent + extra
        // Multiply by 2^binaryExponent (never negative) and 10^exponent, or divide for negative exponents.
        numerator = try Self.multiply(numerator, by: UInt128(1) << binaryExponent, text: text)
        if exponent >= 0 {
            for _ in 0..<exponent { numerator = try Self.multiply(numerator, by: 10, text: text) }
        } else {
            for _ in 0..<(-exponent) {
                let (next, overflow) = denominator.multipliedReportingOverflow(by: 10)
                if overflow {
                    // The value is below one unit at this scale: rounding away from zero gives 1.
                    numerator = 1
                    denominator = 1
                    break
                }
                denominator = next
            }
        }
        let (quotient, remainder) = numerator.quotientAndRemainder(dividingBy: denominator)
        let rounded = remainder == 0 ? quotient : quotient + 1
        guard rounded <= UInt128(Int64.max) else { throw .tooLarge(text) }
        return mantissa < 0 ? -Int64(rounded) : Int64(rounded)
    }

    private static func multiply(_ value: UInt128, by factor: UInt128, text: String) throws(QuantityError) -> UInt128 {
        let (product, overflow) = value.multipliedReportingOverflow(by: factor)
        if overflow { throw .tooLarge(text) }
        return product
    }
}

/// Why a quantity string was refused.
public enum QuantityError: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case invalid(String)
    case tooPrecise(String)
    case tooLarge(String)

    public var description: String {
        switch self {
        case .empty: "empty quantity"
        case .invalid(let text): "\"\(text)\" is not a Kubernetes quantity (examples: 250m, 0.5, 512Mi, 1G, 1e3)"
        case .tooPrecise(let text): "\"\(text)\" has too many significant digits"
        case .tooLarge(let text): "\"\(text)\" is too large"
        }
    }
}

extension Quantity: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // The API server always sends strings, but hand-written JSON and YAML often use numbers.
        let text: String
        if let string = try? container.decode(String.self) {
            text = string
        } else if let integer = try? container.decode(Int64.self) {
            text = String(integer)
        } else {
            let number = try container.decode(Double.self)
            text = String(number)
        }
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}
