import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway certificate authority: a CA certificate and serving certificates signed by it,
/// all as PEM. KubeSim serves HTTPS with them, and tests use them for the agent's webhook.
public struct CertificateAuthority: Sendable {
    public let certificatePEM: String
    private let key: Certificate.PrivateKey
    private let certificate: Certificate

    /// Generates a new CA valid for a year.
    public init(commonName: String = "kubesim-ca") throws {
        let privateKey = P256.Signing.PrivateKey()
        key = Certificate.PrivateKey(privateKey)
        let name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(365 * 24 * 3600),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            },
            issuerPrivateKey: key
        )
        certificatePEM = try certificate.serializeAsPEM().pemString
    }

    /// A serving certificate and key for the given DNS names and IP addresses.
    public func issue(commonName: String, dnsNames: [String] = ["localhost"], ipAddresses: [String] = ["127.0.0.1", "::1"], validFor: TimeInterval = 365 * 24 * 3600) throws -> IssuedCertificate {
        let privateKey = P256.Signing.PrivateKey()
        let leafKey = Certificate.PrivateKey(privateKey)
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        for address in ipAddresses {
            guard let bytes = Self.ipBytes(address) else { throw CertificateError("not an IP address: \(address)") }
            names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        }
        let now = Date()
        let leaf = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: leafKey.publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(validFor),
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
            privateKeyPEM: try leafKey.serializeAsPEM().pemString
        )
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
}

struct CertificateError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
