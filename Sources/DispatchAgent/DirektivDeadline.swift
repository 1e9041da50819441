import Foundation

/// Direktiv's `Direktiv-Deadline` header: the RFC 3339 instant by which an action must finish.
enum DirektivDeadline {
    /// The time left until the header's deadline, or `nil` when the header is absent or unreadable.
    static func remaining(_ header: String?, now: Date = Date()) -> Duration? {
        guard let header, !header.isEmpty else { return nil }
        let deadline = (try? Date(header, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            ?? (try? Date(header, strategy: .iso8601))
        guard let deadline else { return nil }
        return .milliseconds(Int64((deadline.timeIntervalSince(now) * 1000).rounded(.down)))
    }
}
