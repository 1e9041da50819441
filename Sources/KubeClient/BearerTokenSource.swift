import Foundation
import Synchronization

/// Supplies the bearer token for each request, re-reading a token file as it rotates.
///
/// A file is read again once `maximumAge` has passed, or at once after the server answered 401
/// (``invalidate()``), so a rotated service-account token is picked up without a restart.
final class BearerTokenSource: Sendable {
    private enum Source {
        case none
        case fixed(String)
        case file(String)
    }

    private struct Cached {
        var token: String?
        var readAt: ContinuousClock.Instant
    }

    private let source: Source
    private let maximumAge: Duration
    private let cache = Mutex<Cached?>(nil)

    init(_ credentials: KubeConfiguration.Credentials, maximumAge: Duration = .seconds(60)) {
        switch credentials {
        case .none: source = .none
        case .token(let token): source = .fixed(token)
        case .tokenFile(let path): source = .file(path)
        }
        self.maximumAge = maximumAge
    }

    /// The current token, or `nil` when requests carry none.
    func token() throws -> String? {
        switch source {
        case .none: return nil
        case .fixed(let token): return token
        case .file(let path):
            let now = ContinuousClock.now
            if let cached = cache.withLock({ $0 }), now - cached.readAt < maximumAge {
                return cached.token
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw KubeConfigurationError("cannot read the bearer token file \(path)")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            cache.withLock { $0 = Cached(token: token, readAt: now) }
            return token
        }
    }

    /// Whether a 401 could be cured by reading the token again.
    var canRefresh: Bool {
        if case .file = source { return true }
        return false
    }

    /// Forgets the cached token so the next request reads the file again.
    func invalidate() {
        cache.withLock { $0 = nil }
    }
}
