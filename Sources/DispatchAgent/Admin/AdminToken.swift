import Foundation
import Synchronization

/// The bearer token for mutating admin calls, read from a file (a mounted Secret), or else the
/// one an ``AdminTokenSecret`` read from the API server.
///
/// The file is read again when it changes, so a rotated Secret applies without a restart.
/// Without a readable, non-empty file or an installed token no token matches: mutating calls are
/// refused rather than left open.
public final class AdminToken: Sendable {
    public let path: String
    private let cached = Mutex<(modified: Date?, size: Int?, token: [UInt8]?)>((nil, nil, nil))
    private let installed = Mutex<[UInt8]?>(nil)

    public init(path: String) {
        self.path = path
    }

    /// Uses `token` when no file holds one (an empty token installs nothing).
    public func install(_ token: String) {
        let bytes = Array(token.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        installed.withLock { $0 = bytes.isEmpty ? nil : bytes }
    }

    /// The token now, or `nil` when none is configured.
    func current() -> [UInt8]? {
        fromFile() ?? installed.withLock { $0 }
    }

    private func fromFile() -> [UInt8]? {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let modified = attributes?[.modificationDate] as? Date
        let size = (attributes?[.size] as? NSNumber)?.intValue
        if let hit = cached.withLock({ $0.modified == modified && $0.size == size && modified != nil ? $0.token : nil }) { return hit }
        let token = FileManager.default.contents(atPath: path).map {
            Array(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        }
        let usable = token.flatMap { $0.isEmpty ? nil : $0 }
        cached.withLock { $0 = (modified, size, usable) }
        return usable
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    public func matches(_ presented: some StringProtocol) -> Bool {
        guard let token = current() else { return false }
        return Self.constantTimeEqual(Array(presented.utf8), token)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt(bitPattern: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= UInt((index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0))
        }
        return difference == 0
    }

    public var isConfigured: Bool { current() != nil }
}
