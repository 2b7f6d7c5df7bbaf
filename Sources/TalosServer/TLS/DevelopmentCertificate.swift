import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
import X509

/// A development certificate for `localhost`, `127.0.0.1` and `::1`, made on
/// first run so that even a development server speaks only TLS.
///
/// It is issued by a one-off ECDSA P-256 certificate authority whose private
/// key is discarded right after signing: clients trust `dev-ca.pem`, and
/// nobody, not even someone who reads the data directory, can mint another
/// certificate under it.
///
/// - Warning: clients must be told to trust `dev-ca.pem` explicitly; for
///   anything reachable by others configure a real certificate.
enum DevelopmentCertificate {
    static let certificateName = "dev-cert.pem"
    static let keyName = "dev-key.pem"
    static let authorityName = "dev-ca.pem"

    /// Returns the certificate and key paths in `directory`, creating them
    /// (key 0600) when missing or when the certificate expires within a week.
    static func ensure(in directory: String) throws -> (certificate: String, key: String) {
        let certificatePath = directory + "/" + certificateName
        let keyPath = directory + "/" + keyName
        let authorityPath = directory + "/" + authorityName
        if try FileSystem.status(certificatePath) != nil, try FileSystem.status(keyPath) != nil {
            try DataDirectory.requirePrivate(keyPath, directory: false)
            let pem = String(decoding: try FileSystem.read(certificatePath), as: UTF8.self)
            let certificate = try leafCertificate(inPEM: pem)
            if certificate.notValidAfter > Date().addingTimeInterval(7 * 86_400) {
                return (certificatePath, keyPath)
            }
        }
        for path in [certificatePath, keyPath, authorityPath] { try FileSystem.remove(path) }
        let made = try make()
        try FileSystem.createExclusive(keyPath, contents: Array(made.key.utf8), mode: 0o600)
        try FileSystem.createExclusive(certificatePath, contents: Array(made.certificate.utf8), mode: 0o600)
        try FileSystem.createExclusive(authorityPath, contents: Array(made.authority.utf8), mode: 0o644)
        return (certificatePath, keyPath)
    }

    /// The first certificate of a PEM chain (the server's own).
    static func leafCertificate(inPEM pem: String) throws -> Certificate {
        guard let first = try PEMDocument.parseMultiple(pemString: pem).first else {
            throw ServerError.tls("no certificate in the PEM file")
        }
        return try Certificate(pemDocument: first)
    }

    static func make(validDays: Int = 365) throws -> (certificate: String, key: String, authority: String) {
        let now = Date()
        let notBefore = now.addingTimeInterval(-300)
        let notAfter = now.addingTimeInterval(Double(validDays) * 86_400)

        let authorityKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let authorityName = try DistinguishedName {
            CommonName("Talos development CA \(Int(now.timeIntervalSince1970))")
            OrganizationName("Talos")
        }
        let authority = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: authorityKey.publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: authorityName,
            subject: authorityName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
                SubjectKeyIdentifier(hash: authorityKey.publicKey)
            },
            issuerPrivateKey: authorityKey
        )

        let key = P256.Signing.PrivateKey()
        let leafKey = Certificate.PrivateKey(key)
        let subject = try DistinguishedName {
            CommonName("localhost")
            OrganizationName("Talos")
        }
        let leaf = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: leafKey.publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: authorityName,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                AuthorityKeyIdentifier(keyIdentifier: try authority.extensions.subjectKeyIdentifier?.keyIdentifier)
                SubjectAlternativeNames([
                    .dnsName("localhost"),
                    .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                    .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))),
                ])
            },
            issuerPrivateKey: authorityKey
        )
        let authorityPEM = try authority.serializeAsPEM().pemString + "\n"
        return (try leaf.serializeAsPEM().pemString + "\n" + authorityPEM, key.pemRepresentation, authorityPEM)
    }
}
