import Forge
import Foundation
import TalosServer
import TalosTestSupport
import Testing

@Suite("Start-up: data directory, secrets and configuration")
struct StartupTests {
    static func prepare(_ settings: ServerSettings) async throws -> ServerRuntime {
        try await ServerRuntime.prepare(settings: settings, logger: TestServer.logger(into: CapturedLog()))
    }

    @Test("first run creates a private data directory, a master key and TLS material", arguments: DatabaseKind.available)
    func firstRun(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let settings = try TestServer.settings(for: test)
            let runtime = try await Self.prepare(settings)
            await runtime.close()
            let files = FileManager.default
            func mode(_ path: String) throws -> Int {
                try (files.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
            }
            let data = settings.dataDirectory
            #expect(try mode(data) == 0o700)
            #expect(try mode(data + "/secrets") == 0o700)
            #expect(try mode(data + "/secrets/master_key") == 0o600)
            #expect(try mode(data + "/secrets/audit_signing_key") == 0o600)
            #expect(try mode(data + "/tls/dev-key.pem") == 0o600)
            let key = try String(contentsOfFile: data + "/secrets/master_key", encoding: .utf8)
            #expect(Data(base64Encoded: key.trimmingCharacters(in: .whitespacesAndNewlines))?.count == 32)
            // A second start reuses everything.
            let again = try await Self.prepare(settings)
            await again.close()
            #expect(try String(contentsOfFile: data + "/secrets/master_key", encoding: .utf8) == key)
        }
    }

    @Test("a secret file readable by others stops the start", arguments: [0o644, 0o640, 0o604])
    func readableSecret(_ mode: Int) async throws {
        try await TestDatabase.with(.sqlite) { test in
            let settings = try TestServer.settings(for: test)
            await (try Self.prepare(settings)).close()
            let path = settings.dataDirectory + "/secrets/master_key"
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            let error = await #expect(throws: ServerError.insecurePermissions) { try await Self.prepare(settings) }
            #expect(error?.reason.contains("master_key") == true)
            #expect(error?.reason.contains("chmod go-rwx") == true)
        }
    }

    @Test("secrets mounted through links are judged by what they point at")
    func linkedSecrets() async throws {
        try await TestDatabase.with(.sqlite) { test in
            let settings = try TestServer.settings(for: test)
            await (try Self.prepare(settings)).close()
            let secrets = settings.dataDirectory + "/secrets"
            let stored = test.directory + "/mounted"
            try FileManager.default.createDirectory(atPath: stored, withIntermediateDirectories: true)
            try FileManager.default.moveItem(atPath: secrets + "/master_key", toPath: stored + "/master_key")
            try FileManager.default.createSymbolicLink(atPath: secrets + "/master_key", withDestinationPath: stored + "/master_key")
            await (try Self.prepare(settings)).close()
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: stored + "/master_key")
            await #expect(throws: ServerError.insecurePermissions) { try await Self.prepare(settings) }
        }
    }

    @Test("a data directory readable by others stops the start")
    func readableDataDirectory() async throws {
        try await TestDatabase.with(.sqlite) { test in
            let settings = try TestServer.settings(for: test)
            await (try Self.prepare(settings)).close()
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: settings.dataDirectory)
            await #expect(throws: ServerError.insecurePermissions) { try await Self.prepare(settings) }
        }
    }

    @Test(
        "a secret in the environment is refused and not echoed",
        arguments: ["TALOS_DATABASE_PASSWORD", "TALOS_MASTER_KEY", "TALOS_JWT_SIGNING_KEY", "talos_api_token"]
    )
    func secretInEnvironment(_ name: String) async throws {
        let error = await #expect(throws: ServerError.secretInEnvironment) {
            try await ServerSettings.load(configFile: nil, environment: [name: "s3cr3t-value-123", "TALOS_SERVER_PORT": "9443"])
        }
        #expect(error?.reason.contains(name) == true)
        #expect(error?.reason.contains("s3cr3t") == false)
    }

    @Test("a secret in the configuration file is refused")
    func secretInConfigFile() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/talos.json"
        try #"{"database": {"url": "postgres://t@127.0.0.1/t", "password": "hunter2"}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let error = await #expect(throws: ServerError.secretInConfigFile) {
            try await ServerSettings.load(configFile: path, environment: [:])
        }
        #expect(error?.reason.contains("database.password") == true)
        #expect(error?.reason.contains("hunter2") == false)
    }

    @Test("non-secret settings come from the file, the environment wins")
    func layeredConfiguration() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/talos.json"
        try #"{"server": {"host": "127.0.0.2", "port": 9000}, "ratelimit": {"auth": {"burst": 4}}, "http": {"max_body_bytes": 2048}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let settings = try await ServerSettings.load(
            configFile: path, environment: ["TALOS_SERVER_PORT": "9443", "TALOS_SECRETS_DIR": "/run/secrets"]
        )
        #expect(settings.secretsDirectory == "/run/secrets", "a location of secrets is not a secret")
        #expect(settings.host == "127.0.0.2")
        #expect(settings.port == 9443)
        #expect(settings.rateLimits[.auth].burst == 4)
        #expect(settings.limits.maxBodyBytes == 2048)
        #expect(ServerSettings().host == "127.0.0.1", "loopback unless configured")
    }

    @Test("sandbox defaults and operator maxima come from configuration")
    func sandboxPolicy() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/talos.json"
        try #"{"forge": {"maxima": {"memory_mib": 256, "wall_ms": 20000}, "defaults": {"memory_mib": 128}}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let settings = try await ServerSettings.load(configFile: path, environment: ["TALOS_FORGE_MAXIMA_PIDS": "150"])
        #expect(settings.sandboxPolicy.defaults.memoryMiB == 128)
        #expect(settings.sandboxPolicy.maxima.memoryMiB == 256)
        #expect(settings.sandboxPolicy.maxima.wallMilliseconds == 20000)
        #expect(settings.sandboxPolicy.maxima.pids == 150)
        #expect(throws: ForgeError.limitAboveMaximum) { try settings.sandboxPolicy.resolve(LimitRequest(memoryMiB: 257)) }
        await #expect(throws: ServerError.self, "a default above its maximum is refused") {
            try await ServerSettings.load(configFile: nil, environment: ["TALOS_FORGE_MAXIMA_MEMORY_MIB": "100"])
        }
    }

    @Test("invalid settings are refused with a reason")
    func invalidSettings() async throws {
        await #expect(throws: ServerError.self) {
            try await ServerSettings.load(configFile: nil, environment: ["TALOS_SERVER_PORT": "70000"])
        }
        await #expect(throws: ServerError.self) {
            try await ServerSettings.load(configFile: nil, environment: ["TALOS_RATELIMIT_AUTH_BURST": "0"])
        }
    }

    @Test("a plain-text database URL to a remote host is refused")
    func insecureDatabase() async throws {
        try await TestDatabase.with(.sqlite) { test in
            var settings = try TestServer.settings(for: test)
            settings.databaseURL = "postgres://talos@db.example:5432/talos?sslmode=disable"
            await #expect(throws: (any Error).self) { try await Self.prepare(settings) }
        }
    }
}
