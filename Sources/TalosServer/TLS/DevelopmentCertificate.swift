import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
import X509

/// A self-signed ECDSA P-256 certificate for `localhost`, `127.0.0.1` and
/// `::1`, made on first run so that even a development server speaks only TLS.
///
/// - Warning: clients must be told to trust it explicitly; for anything
///   reachable by others configure a real certificate.
enum DevelopmentCertificate {
    static let certificateName = "dev-cert.pem"
    static let keyName = "dev-key.pem"

    /// Returns the certificate and key paths in `directory`, creating them
    /// (key 0600) when missing or when the certificate expires within a week.
    static func ensure(in directory: String) throws -> (certificate: String, key: String) {
        let certificatePath = directory + "/" + certificateName
        let keyPath = directory + "/" + keyName
        if try FileSystem.status(certificatePath) != nil, try FileSystem.status(keyPath) != nil {
            try DataDirectory.requirePrivate(keyPath, directory: false)
            let pem = String(decoding: try FileSystem.read(certificatePath), as: UTF8.self)
            let certificate = try Certificate(pemEncoded: pem)
            if certificate.notValidAfter > Date().addingTimeInterval(7 * 86_400) {
                return (certificatePath, keyPath)
            }
            try systemCallUnlink(certificatePath)
            try systemCallUnlink(keyPath)
        }
        let (certificatePEM, keyPEM) = try make()
        try FileSystem.createExclusive(keyPath, contents: Array(keyPEM.utf8), mode: 0o600)
        try FileSystem.createExclusive(certificatePath, contents: Array(certificatePEM.utf8), mode: 0o600)
        return (certificatePath, keyPath)
    }

    static func make(validDays: Int = 365) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let certificateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            CommonName("Talos development certificate")
            OrganizationName("Talos")
        }
        let now = Date()
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames([
                .dnsName("localhost"),
                .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))),
            ])
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: certificateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(Double(validDays) * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: certificateKey
        )
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    private static func systemCallUnlink(_ path: String) throws {
        try FileSystem.remove(path)
    }
}
