import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate authority: a CA certificate and serving certificates signed by it, all as PEM.
///
/// KubeSim serves HTTPS with one, tests use one for the agent's webhook, and the agent keeps its
/// webhook's own in a Secret (``WebhookCARotation``), loading it back with
/// ``init(certificatePEM:privateKeyPEM:)``.
public struct CertificateAuthority: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String
    /// When the CA certificate expires; serving certificates never outlive it.
    public let notValidAfter: Date
    private let key: Certificate.PrivateKey
    private let certificate: Certificate

    /// Generates a new CA (P-256), valid from five minutes before `now` (clock skew between
    /// nodes) for `validFor` seconds.
    public init(commonName: String = "kubesim-ca", validFor: TimeInterval = 365 * 24 * 3600, now: Date = Date()) throws {
        let privateKey = P256.Signing.PrivateKey()
        key = Certificate.PrivateKey(privateKey)
        let name = try DistinguishedName { CommonName(commonName) }
        certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(validFor),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            },
            issuerPrivateKey: key
        )
        certificatePEM = try certificate.serializeAsPEM().pemString
        privateKeyPEM = try key.serializeAsPEM().pemString
        notValidAfter = certificate.notValidAfter
    }

    /// Loads a CA written earlier; refuses a pair whose key does not match the certificate or a
    /// certificate that is not a CA.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        let certificate: Certificate
        let key: Certificate.PrivateKey
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
            key = try Certificate.PrivateKey(pemEncoded: privateKeyPEM)
        } catch {
            throw CertificateError("not a PEM certificate and private key: \(error)")
        }
        guard key.publicKey == certificate.publicKey else { throw CertificateError("the private key does not belong to the certificate") }
        guard case .isCertificateAuthority = try certificate.extensions.basicConstraints else {
            throw CertificateError("the certificate is not a CA")
        }
        self.certificate = certificate
        self.key = key
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.notValidAfter = certificate.notValidAfter
    }

    /// A serving certificate and key for the given DNS names and IP addresses, valid from five
    /// minutes before `now` for `validFor` seconds but never past the CA's own expiry.
    public func issue(
        commonName: String, dnsNames: [String] = ["localhost"], ipAddresses: [String] = ["127.0.0.1", "::1"],
        validFor: TimeInterval = 365 * 24 * 3600, now: Date = Date()
    ) throws -> IssuedCertificate {
        let privateKey = P256.Signing.PrivateKey()
        let leafKey = Certificate.PrivateKey(privateKey)
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        for address in ipAddresses {
            guard let bytes = Self.ipBytes(address) else { throw CertificateError("not an IP address: \(address)") }
            names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        }
        let leaf = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: leafKey.publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: min(now.addingTimeInterval(validFor), certificate.notValidAfter),
            issuer: certificate.subject,
            subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: key
        )
        return IssuedCertificate(
            certificatePEM: try leaf.serializeAsPEM().pemString,
            privateKeyPEM: try leafKey.serializeAsPEM().pemString,
            notValidAfter: leaf.notValidAfter
        )
    }

    /// Whether `certificatePEM` was signed by this CA (its issuer is this CA's subject and the
    /// signature verifies).
    public func signed(_ certificatePEM: String) -> Bool {
        guard let leaf = try? Certificate(pemEncoded: certificatePEM), leaf.issuer == certificate.subject else { return false }
        return certificate.publicKey.isValidSignature(leaf.signature, for: leaf)
    }

    static func ipBytes(_ address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

/// A certificate and its private key, as PEM.
public struct IssuedCertificate: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String
    public let notValidAfter: Date
}

/// A certificate or key that cannot be used.
public struct CertificateError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
