/// One forward-only schema step. Versions are dense and never reused; a
/// released migration is never edited, only followed by a new one.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    /// The statements for a dialect; shared SQL unless the databases differ.
    let statements: @Sendable (DatabaseDialect) -> [String]

    init(version: Int, name: String, statements: @escaping @Sendable (DatabaseDialect) -> [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

extension Migration {
    /// Every migration this build knows, in order.
    public static let all: [Migration] = [
        auditTrail,
        accounts,
        sessions,
        executions,
        inviters,
        executionOutput,
        signInDecoy,
    ]

    static let auditTrail = Migration(version: 1, name: "audit trail") { dialect in
        var statements = [
            """
            CREATE TABLE audit_records (
                seq BIGINT PRIMARY KEY,
                time TEXT NOT NULL,
                node TEXT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                outcome TEXT NOT NULL,
                request_id TEXT NOT NULL,
                source_ip TEXT NOT NULL,
                details TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE
            )
            """,
            "CREATE INDEX audit_records_time ON audit_records (time)",
            """
            CREATE TABLE audit_checkpoints (
                seq BIGINT PRIMARY KEY,
                hash TEXT NOT NULL,
                key_id TEXT NOT NULL,
                signature TEXT NOT NULL,
                time TEXT NOT NULL
            )
            """,
        ]
        statements += appendOnlyTriggers(table: "audit_records", dialect: dialect)
        statements += appendOnlyTriggers(table: "audit_checkpoints", dialect: dialect)
        return statements
    }

    static let accounts = Migration(version: 2, name: "accounts and one-time tokens") { _ in
        [
            """
            CREATE TABLE accounts (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL,
                status TEXT NOT NULL,
                password_hash TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX accounts_role ON accounts (role)",
            """
            CREATE TABLE one_time_tokens (
                token_hash TEXT PRIMARY KEY,
                account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                purpose TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                used_at TEXT,
                created_at TEXT NOT NULL
            )
            """,
        ]
    }

    /// Who invited a pending account, so only they (or a super admin) may
    /// issue its invitation again.
    static let inviters = Migration(version: 5, name: "invitation owners") { _ in
        ["ALTER TABLE accounts ADD COLUMN invited_by TEXT"]
    }

    /// Output bytes per job, charged as they are produced, for the daily
    /// output quota.
    static let executionOutput = Migration(version: 6, name: "execution output accounting") { _ in
        ["ALTER TABLE executions ADD COLUMN output_bytes BIGINT NOT NULL DEFAULT 0"]
    }

    /// Rows that a sign-in for an unknown address counts its attempt on, so
    /// it writes what a wrong password for a real account writes; many, so
    /// a flood of unknown addresses does not queue on one row's lock.
    static let signInDecoy = Migration(version: 7, name: "sign-in decoys") { _ in
        [
            """
            CREATE TABLE sign_in_decoy (
                id INTEGER PRIMARY KEY, failed_logins INTEGER NOT NULL DEFAULT 0, lock_count INTEGER NOT NULL DEFAULT 0, locked_until TEXT
            )
            """,
            "INSERT INTO sign_in_decoy (id) VALUES " + (0..<signInDecoyRows).map { "(\($0))" }.joined(separator: ", "),
        ]
    }

    /// How many decoy rows migration 7 creates.
    public static let signInDecoyRows = 64

    static let sessions = Migration(version: 3, name: "sessions, refresh tokens, MFA, lockout, signing keys") { _ in
        [
            "ALTER TABLE accounts ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE accounts ADD COLUMN lock_count INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE accounts ADD COLUMN locked_until TEXT",
            "ALTER TABLE accounts ADD COLUMN mfa_enabled INTEGER NOT NULL DEFAULT 0",
            """
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                created_at TEXT NOT NULL,
                last_used_at TEXT NOT NULL,
                ip TEXT NOT NULL,
                user_agent TEXT NOT NULL,
                auth_time BIGINT NOT NULL,
                amr TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                revoked_at TEXT,
                revoked_reason TEXT
            )
            """,
            "CREATE INDEX sessions_account ON sessions (account_id)",
            """
            CREATE TABLE refresh_tokens (
                token_hash TEXT PRIMARY KEY,
                session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                rotated_at TEXT
            )
            """,
            "CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id)",
            """
            CREATE TABLE totp_credentials (
                account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
                secret_sealed TEXT NOT NULL,
                confirmed_at TEXT,
                last_step BIGINT NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE recovery_codes (
                account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                code_hash TEXT NOT NULL,
                used_at TEXT,
                PRIMARY KEY (account_id, code_hash)
            )
            """,
            """
            CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY,
                private_sealed TEXT NOT NULL,
                public_key TEXT NOT NULL,
                created_at TEXT NOT NULL,
                sign_until TEXT NOT NULL,
                publish_until TEXT NOT NULL
            )
            """,
            "CREATE INDEX one_time_tokens_account ON one_time_tokens (account_id)",
        ]
    }

    static let executions = Migration(version: 4, name: "execution queue and results") { dialect in
        [
            // Times are milliseconds since the epoch: leases compare and add them.
            """
            CREATE TABLE executions (
                id TEXT PRIMARY KEY,
                owner_id TEXT NOT NULL,
                owner_role TEXT NOT NULL,
                status TEXT NOT NULL,
                language TEXT NOT NULL,
                api TEXT NOT NULL,
                spec TEXT NOT NULL,
                result TEXT,
                verdict TEXT,
                failure_reason TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                cancel_requested INTEGER NOT NULL DEFAULT 0,
                cpu_ms BIGINT NOT NULL DEFAULT 0,
                source_sha256 TEXT NOT NULL,
                source_bytes BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                started_at BIGINT,
                finished_at BIGINT,
                lease_owner TEXT,
                lease_token TEXT,
                lease_expires_at BIGINT
            )
            """,
            "CREATE INDEX executions_queue ON executions (status, owner_id, created_at)",
            "CREATE INDEX executions_owner ON executions (owner_id, created_at)",
            "CREATE INDEX executions_finished ON executions (finished_at)",
            dialect == .postgres
                ? """
                CREATE TABLE execution_events (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    data TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """
                : """
                CREATE TABLE execution_events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    data TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
            "CREATE INDEX execution_events_execution ON execution_events (execution_id, seq)",
        ]
    }

    /// Triggers that make a table append-only for everyone, the table owner
    /// included: any `UPDATE`, `DELETE` (and on PostgreSQL `TRUNCATE`) fails.
    static func appendOnlyTriggers(table: String, dialect: DatabaseDialect) -> [String] {
        switch dialect {
        case .sqlite:
            return ["UPDATE", "DELETE"].map { operation in
                """
                CREATE TRIGGER \(table)_no_\(operation.lowercased()) BEFORE \(operation) ON \(table)
                BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END
                """
            }
        case .postgres:
            return [
                """
                CREATE OR REPLACE FUNCTION talos_refuse_change() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
                END
                $$ LANGUAGE plpgsql
                """,
                """
                CREATE TRIGGER \(table)_no_change BEFORE UPDATE OR DELETE ON \(table)
                FOR EACH ROW EXECUTE FUNCTION talos_refuse_change()
                """,
                """
                CREATE TRIGGER \(table)_no_truncate BEFORE TRUNCATE ON \(table)
                FOR EACH STATEMENT EXECUTE FUNCTION talos_refuse_change()
                """,
            ]
        }
    }
}
