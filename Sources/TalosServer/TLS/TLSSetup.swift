import NIOSSL

/// The server's TLS policy: TLS 1.3 and nothing older, HTTP/1.1 by ALPN.
enum TLSSetup {
    static func serverConfiguration(certificateFile: String, keyFile: String) throws -> TLSConfiguration {
        _ = try FileSystem.readPrivate(keyFile, limit: 1 << 20)
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw ServerError.tls("cannot load the certificate or key (\(certificateFile), \(keyFile)); check they are PEM")
        }
        guard !chain.isEmpty else { throw ServerError.tls("\(certificateFile) holds no certificate") }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.applicationProtocols = ["http/1.1"]
        return configuration
    }
}
