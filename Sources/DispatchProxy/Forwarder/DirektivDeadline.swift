import Foundation
import NIOCore

/// Direktiv's `Direktiv-Deadline` header: the RFC 3339 instant by which an action must finish.
///
/// The time left is clamped to `maximum` (and to `-maximum` for a deadline long past): the
/// header is the caller's to choose, and a deadline centuries ahead must neither overflow a
/// timer nor hold a call open for longer than any Direktiv action runs.
package enum DirektivDeadline {
    /// The longest a call may be given, whatever its deadline says: one day.
    package static let maximum = Duration.seconds(86_400)
    private static let maximumMilliseconds = Double(maximum.components.seconds * 1000)

    /// The time left until the header's deadline, or `nil` when the header is absent or unreadable.
    package static func remaining(_ header: String?, now: Date? = nil) -> Duration? {
        guard let header, !header.isEmpty, let seconds = secondsSince1970(header) ?? foundationSeconds(header), seconds.isFinite else { return nil }
        return remaining(seconds: seconds, now: now)
    }

    /// The time left until the deadline `head` carries, read from its bytes.
    package static func remaining(in head: HTTPHead, now: Date? = nil) -> Duration? {
        guard let field = head.fields.first(where: { $0.name == .direktivDeadline }) else { return nil }
        let fast = head.bytes.withUnsafeReadableBytes { raw in
            secondsSince1970(UnsafeRawBufferPointer(rebasing: raw[field.valueRange]))
        }
        guard let seconds = fast ?? foundationSeconds(head.string(field.valueRange)), seconds.isFinite else { return nil }
        return remaining(seconds: seconds, now: now)
    }

    /// Other ISO 8601 spellings, through Foundation.
    private static func foundationSeconds(_ text: String) -> Double? {
        let date = (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? (try? Date(text, strategy: .iso8601))
        return date?.timeIntervalSince1970
    }

    private static func remaining(seconds: Double, now: Date?) -> Duration {
        // The wall clock is read only when there is a deadline to compare it with.
        let milliseconds = ((seconds - (now ?? Date()).timeIntervalSince1970) * 1000).rounded(.down)
        // Clamped before the conversion: `Int64(_: Double)` traps outside its range.
        return .milliseconds(Int64(min(max(milliseconds, -maximumMilliseconds), maximumMilliseconds)))
    }

    package static func secondsSince1970(_ text: String) -> Double? {
        var text = text
        return text.withUTF8 { secondsSince1970(UnsafeRawBufferPointer($0)) }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, the form Go's `time.RFC3339Nano` writes, read
    /// without Foundation: every call through the proxy carries one.
    static func secondsSince1970(_ bytes: UnsafeRawBufferPointer) -> Double? {
        var index = 0
        func number(_ digits: Int) -> Int? {
            guard index + digits <= bytes.count else { return nil }
            var value = 0
            for _ in 0..<digits {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                index += 1
            }
            return value
        }
        func expect(_ options: UInt8...) -> Bool {
            guard index < bytes.count, options.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")), let day = number(2),
            expect(UInt8(ascii: "T"), UInt8(ascii: "t")), let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2),
            expect(UInt8(ascii: ":")), let second = number(2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                fraction += Double(bytes[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        var offset = 0
        if expect(UInt8(ascii: "Z"), UInt8(ascii: "z")) {
            offset = 0
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let hours = number(2), expect(UInt8(ascii: ":")), let minutes = number(2), hours < 24, minutes < 60 else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = daysSince1970(year: year, month: month, day: day)
        return Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        // Years counted from March, so the leap day falls at the end of one.
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
