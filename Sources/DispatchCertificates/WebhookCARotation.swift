import Foundation
import SwiftASN1
import X509

/// The webhook's own CA as kept in a Secret, and how it is rotated without a moment in which the
/// API server distrusts the serving certificate (what Kyverno and cert-manager's webhook do).
///
/// The Secret holds the active CA, at most one next CA with the time it becomes active, and the
/// retired CAs that serving certificates in flight may still be signed by. The webhook
/// configuration's `caBundle` trusts all of them, so every replica may serve a certificate of
/// either the old or the new CA during the switch:
///
/// 1. No usable active CA: a new one is made active at once (first install, or a CA left to
///    expire while no agent ran).
/// 2. The active CA expires within `renewBefore`: a next CA is added, to become active after
///    `activationDelay`. The bundle now holds both, and the API server learns the new CA before
///    any replica serves a certificate signed by it.
/// 3. The next CA's time has come: it becomes active, the old one is retired.
/// 4. Retired CAs leave the bundle once expired.
///
/// Every replica runs the same plan on what it read and writes with the read resourceVersion:
/// two replicas racing converge on the Secret the API server accepted first.
public enum WebhookCARotation {
    /// Lifetimes; the defaults give a year-long CA, a switch a month before expiry and ten
    /// minutes for the new bundle to reach every API server.
    public struct Policy: Sendable, Equatable {
        public var caValidity: TimeInterval = 365 * 24 * 3600
        public var renewBefore: TimeInterval = 30 * 24 * 3600
        public var activationDelay: TimeInterval = 600
        public var commonName = "direktiv-dispatch-webhook-ca"

        public init() {}
    }

    /// The Secret's keys.
    public enum Key {
        public static let certificate = "ca.crt"
        public static let privateKey = "ca.key"
        public static let nextCertificate = "next-ca.crt"
        public static let nextPrivateKey = "next-ca.key"
        public static let nextActivatesAt = "next-ca.activates-at"
        public static let retired = "retired-ca.crt"
    }

    /// What the Secret holds, loaded.
    public struct Stored: Sendable {
        public var active: CertificateAuthority?
        public var next: (ca: CertificateAuthority, activatesAt: Date)?
        /// Retired CA certificates, PEM, with their expiry.
        public var retired: [(pem: String, notValidAfter: Date)] = []

        public init(
            active: CertificateAuthority? = nil, next: (ca: CertificateAuthority, activatesAt: Date)? = nil,
            retired: [(pem: String, notValidAfter: Date)] = []
        ) {
            self.active = active
            self.next = next
            self.retired = retired
        }

        /// Reads the Secret's (decoded) data. Entries that do not load are dropped: a damaged
        /// Secret is repaired by the plan rather than wedging every replica.
        public init(data: [String: String]) {
            if let certificate = data[Key.certificate], let key = data[Key.privateKey] {
                active = try? CertificateAuthority(certificatePEM: certificate, privateKeyPEM: key)
            }
            if let certificate = data[Key.nextCertificate], let key = data[Key.nextPrivateKey],
                let ca = try? CertificateAuthority(certificatePEM: certificate, privateKeyPEM: key),
                let text = data[Key.nextActivatesAt], let activatesAt = try? Date(text, strategy: .iso8601)
            {
                next = (ca, activatesAt)
            }
            if let bundle = data[Key.retired], let documents = try? PEMDocument.parseMultiple(pemString: bundle) {
                for document in documents {
                    guard let certificate = try? Certificate(pemDocument: document) else { continue }
                    retired.append((document.pemString, certificate.notValidAfter))
                }
            }
        }

        /// The Secret's data for this state.
        public var data: [String: String] {
            var data: [String: String] = [:]
            if let active {
                data[Key.certificate] = active.certificatePEM
                data[Key.privateKey] = active.privateKeyPEM
            }
            if let next {
                data[Key.nextCertificate] = next.ca.certificatePEM
                data[Key.nextPrivateKey] = next.ca.privateKeyPEM
                data[Key.nextActivatesAt] = next.activatesAt.formatted(.iso8601)
            }
            if !retired.isEmpty { data[Key.retired] = retired.map { Self.terminated($0.pem) }.joined() }
            return data
        }

        /// Every CA the webhook configuration must trust now: active, next, then retired.
        public var bundle: String {
            var certificates: [String] = []
            if let active { certificates.append(active.certificatePEM) }
            if let next { certificates.append(next.ca.certificatePEM) }
            certificates += retired.map(\.pem)
            return certificates.map(Self.terminated).joined()
        }

        static func terminated(_ pem: String) -> String { pem.hasSuffix("\n") ? pem : pem + "\n" }
    }

    /// What to store after `stored` at `now`; `generate` makes a new CA (injected so tests can
    /// count and date them). Returns `stored` itself when nothing is due.
    public static func plan(
        _ stored: Stored, now: Date, policy: Policy, generate: (Date) throws -> CertificateAuthority
    ) throws -> (stored: Stored, changes: [Change]) {
        var result = stored
        var changes: [Change] = []
        let expiredRetired = result.retired.filter { $0.notValidAfter <= now }.count
        if expiredRetired > 0 {
            result.retired.removeAll { $0.notValidAfter <= now }
            changes.append(.droppedRetired(expiredRetired))
        }
        if let next = result.next, next.activatesAt <= now || (result.active.map { $0.notValidAfter <= now } ?? true) {
            // Due, or the active CA is gone or expired so waiting gains nothing.
            if let active = result.active, active.notValidAfter > now { result.retired.insert((active.certificatePEM, active.notValidAfter), at: 0) }
            result.active = next.ca
            result.next = nil
            changes.append(.activatedNext)
        }
        guard let active = result.active, active.notValidAfter > now else {
            result.active = try generate(now)
            changes.append(.created)
            return (result, changes)
        }
        if result.next == nil, active.notValidAfter.timeIntervalSince(now) <= policy.renewBefore {
            result.next = (try generate(now), now.addingTimeInterval(policy.activationDelay))
            changes.append(.addedNext)
        }
        return (result, changes)
    }

    /// What a plan did, for logs and tests.
    public enum Change: Sendable, Equatable, CustomStringConvertible {
        case created
        case addedNext
        case activatedNext
        case droppedRetired(Int)

        public var description: String {
            switch self {
            case .created: "created a new CA"
            case .addedNext: "added the next CA to the bundle"
            case .activatedNext: "made the next CA active and retired the previous one"
            case .droppedRetired(let count): "dropped \(count) expired retired CA(s) from the bundle"
            }
        }
    }
}
