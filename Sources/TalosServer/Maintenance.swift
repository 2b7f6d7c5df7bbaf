public import Crypto
public import Ledger
public import Logging
public import TalosStore

/// What the maintenance commands (`migrate`, `audit verify`, `audit export`,
/// `doctor`) open: the data directory, its secrets and the database, without
/// TLS, listeners or migrations.
public struct MaintenanceContext: Sendable {
    public let settings: ServerSettings
    public let dataDirectory: DataDirectory
    public let database: TalosDatabase

    public static func open(settings: ServerSettings, logger: Logger) throws -> MaintenanceContext {
        let dataDirectory = try DataDirectory.existing(path: settings.dataDirectory, secretsPath: settings.secretsDirectory)
        let secrets = SecretStore(directory: dataDirectory.secretsPath)
        let database = try TalosDatabase.open(
            try ServerRuntime.databaseSettings(settings, dataDirectory: dataDirectory, secrets: secrets), logger: logger
        )
        return MaintenanceContext(settings: settings, dataDirectory: dataDirectory, database: database)
    }

    /// The checkpoint key from the secrets directory.
    public func checkpointPublicKey() throws -> Curve25519.Signing.PublicKey {
        try ServerRuntime.auditSigner(secrets: SecretStore(directory: dataDirectory.secretsPath), create: false).publicKey
    }

    /// Verifies the database chain, its checkpoints and this data
    /// directory's audit file.
    public func verifyAudit() async throws -> AuditVerifier.Report {
        try await AuditVerifier(
            repository: SQLAuditRepository(database: database),
            trustedKeys: [try checkpointPublicKey()],
            node: try dataDirectory.nodeID(),
            filePath: dataDirectory.auditFile
        ).verify()
    }

    /// An audit log writing as this data directory's node, for commands that
    /// change data.
    public func auditLog(logger: Logger) throws -> AuditLog {
        let secrets = SecretStore(directory: dataDirectory.secretsPath)
        return AuditLog(
            repository: SQLAuditRepository(database: database),
            node: try dataDirectory.nodeID(),
            signer: try ServerRuntime.auditSigner(secrets: secrets, create: false),
            sink: try AuditFileSink(path: dataDirectory.auditFile),
            checkpointInterval: settings.auditCheckpointInterval,
            logger: logger
        )
    }

    public func close() async {
        try? await database.close()
    }
}
