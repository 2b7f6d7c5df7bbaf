import Citadel
import Crypto
import Foundation
import Ledger
import TalosCore
import TalosStore
import TalosTestSupport
import Testing

@Suite("Credential primitives")
struct CredentialPrimitivesTests {
    /// RFC 6238 Appendix B, SHA-1, 8 digits, seed "12345678901234567890".
    @Test("RFC 6238 test vectors", arguments: [
        (59, "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"), (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
    ])
    func rfc6238(_ time: Int, _ expected: String) {
        let totp = TOTP(secret: Array("12345678901234567890".utf8), digits: 8)
        #expect(totp.code(step: TOTP.step(at: Date(timeIntervalSince1970: TimeInterval(time)))) == expected)
    }

    @Test("TOTP accepts ±1 step and nothing further")
    func totpWindow() {
        let totp = TOTP(secret: Array(repeating: 7, count: 20))
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let step = TOTP.step(at: now)
        #expect(totp.matchingStep(totp.code(step: step - 1), at: now) == step - 1)
        #expect(totp.matchingStep(totp.code(step: step + 1), at: now) == step + 1)
        #expect(totp.matchingStep(totp.code(step: step + 2), at: now) == nil)
        #expect(totp.matchingStep(totp.code(step: step - 2), at: now) == nil)
        #expect(totp.matchingStep("12345", at: now) == nil)
        #expect(Base32.encode(Array("foobar".utf8)) == "MZXW6YTBOI")
    }

    @Test("password policy: length, classes, email, common passwords")
    func policy() throws {
        let policy = try PasswordPolicy.standard()
        let blocklist = try CommonPasswords.load()
        #expect(blocklist.count >= 10_000)
        let email = EmailLocalPart("alice.smith")
        #expect(policy.violations(of: "Tr0ub4dor&3-Horse", email: email).isEmpty)
        #expect(policy.violations(of: "Short1!", email: email).contains(.tooShort))
        // Degenerate inputs are refused, never trapped on.
        for degenerate in ["", "a", "ab", "\u{0}", "🙂"] {
            #expect(policy.violations(of: degenerate, email: email).contains(.tooShort))
        }
        #expect(policy.violations(of: String(repeating: "aB3$", count: 65), email: email).contains(.tooLong))
        #expect(policy.violations(of: "alllowercaseletters", email: email) == [.tooSimple])
        #expect(policy.violations(of: "correct horse battery staple", email: email).isEmpty, "24+ characters need no mix")
        #expect(policy.violations(of: "My-Name-Is-Alice.Smith-9", email: email).contains(.containsEmail))
        #expect(policy.violations(of: "password12345678!", email: email).contains(.common), "padded common password")
        #expect(policy.violations(of: "qwertyqwertyqwertyqwerty", email: email).contains(.common), "repeated unit")
        let listedLong = try #require(blocklist.first { $0.count >= 16 })
        #expect(policy.violations(of: listedLong, email: email).contains(.common))
    }

    @Test("argon2id: standard PHC strings that another argon2 library verifies; rehash on parameter change")
    func argon2() async throws {
        let gate = HashingGate(permits: 2)
        let hasher = try PasswordHasher(parameters: .owaspMinimum, gate: gate)
        let password = Secret("Correct-Horse-Battery-9-Staple")
        let phc = try await hasher.hash(password)
        #expect(phc.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(try await hasher.verify(password, against: phc) == .match)
        #expect(try await hasher.verify(Secret("wrong"), against: phc) == .mismatch)
        #expect(try await hasher.verify(password, against: nil) == .mismatch, "unknown account: decoy")
        let stronger = try PasswordHasher(parameters: .standard, gate: gate)
        #expect(try await stronger.verify(password, against: phc) == .matchNeedsRehash)
        #expect(throws: CitadelError.self) { try PasswordHasher(parameters: .init(memoryKiB: 8192, iterations: 1, parallelism: 1), gate: gate) }
        // The reference Python binding (argon2-cffi) accepts our hash.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", "import sys, argon2; print(argon2.PasswordHasher().verify(sys.argv[1], sys.argv[2]))", phc, password.unsafeValue]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0 && text.contains("True"), "\(text)")
    }

    @Test("the hashing gate refuses past its bounded wait instead of queueing forever")
    func gate() async throws {
        let gate = HashingGate(permits: 1, maximumWait: .milliseconds(50))
        let hasher = try PasswordHasher(parameters: .standard, gate: gate)
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask { (try? await hasher.hash(Secret("Some-Long-Passphrase-1"))) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.contains(true))
        #expect(results.contains(false), "waiters past 50 ms are refused")
    }

    @Test("access token verification refuses every header but EdDSA/at+jwt/published kid")
    func codec() async throws {
        let key = Curve25519.Signing.PrivateKey()
        let now = Date()
        let seconds = Int64(now.timeIntervalSince1970)
        let claims = AccessTokenClaims(
            iss: "https://issuer", sub: UUID().uuidString, aud: "talos-api", exp: seconds + 600, iat: seconds, nbf: seconds,
            jti: "j", sid: UUID().uuidString, role: "owner", amr: ["pwd"], auth_time: seconds
        )
        let token = try AccessTokenCodec.sign(claims, kid: "k1", key: key)
        let lookup: (String) async throws -> Curve25519.Signing.PublicKey? = { $0 == "k1" ? key.publicKey : nil }
        let verified = try await AccessTokenCodec.verify(token, issuer: "https://issuer", audience: "talos-api", now: now, key: lookup)
        #expect(verified.role == .owner)
        func failure(_ token: String, issuer: String = "https://issuer", audience: String = "talos-api", at date: Date = now) async -> AccessTokenCodec.Failure? {
            do {
                _ = try await AccessTokenCodec.verify(token, issuer: issuer, audience: audience, now: date, key: lookup)
                return nil
            } catch {
                return error
            }
        }
        #expect(await failure(token, issuer: "https://other") == .wrongIssuer)
        #expect(await failure(token, audience: "other") == .wrongAudience)
        #expect(await failure(token, at: now.addingTimeInterval(601)) == .expired)
        #expect(await failure(token, at: now.addingTimeInterval(-120)) == .notYetValid)
        let other = try AccessTokenCodec.sign(claims, kid: "k1", key: Curve25519.Signing.PrivateKey())
        #expect(await failure(other) == .badSignature)
        let parts = token.split(separator: ".")
        let crit = Base64URL.encode(Array(#"{"alg":"EdDSA","crit":["x"],"kid":"k1","typ":"at+jwt"}"#.utf8))
        #expect(await failure(crit + "." + parts[1] + "." + parts[2]) == .unsupportedHeader)
        #expect(await failure(token + "=") == .malformed)
        #expect(await failure(String(repeating: "a", count: 5000)) == .malformed)
    }

    @Test("signing keys rotate, stay published until their tokens expire, then leave the JWKS", arguments: DatabaseKind.available)
    func rotation(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            try await Migrator(database: test.database, logger: TestDatabase.logger).migrate()
            let store = SQLAccountRepository(database: test.database)
            let master = Secret((0..<32).map { UInt8($0) })
            let day: TimeInterval = 86_400
            let start = Date()
            let ring = SigningKeyRing(store: store, masterKey: master, rotation: 30 * day, tokenLifetime: 600)
            let first = try await ring.signingKey(now: start)
            #expect(try await ring.signingKey(now: start.addingTimeInterval(29 * day)).kid == first.kid)
            let rotatedAt = start.addingTimeInterval(30 * day + 1)
            let second = try await ring.signingKey(now: rotatedAt)
            #expect(second.kid != first.kid)
            let published = try await ring.jwks(now: rotatedAt).compactMap { $0["kid"] }
            #expect(published == [second.kid, first.kid], "the old key stays while its tokens live")
            #expect(try await ring.verificationKey(kid: first.kid, now: rotatedAt) != nil)
            let later = rotatedAt.addingTimeInterval(20 * 60)
            #expect(try await ring.jwks(now: later).compactMap { $0["kid"] } == [second.kid])
            #expect(try await ring.verificationKey(kid: first.kid, now: later) == nil)
            // A second process sharing the database signs with the same key.
            let sibling = SigningKeyRing(store: store, masterKey: master, rotation: 30 * day, tokenLifetime: 600)
            #expect(try await sibling.signingKey(now: later).kid == second.kid)
            // Keys are sealed at rest: the wrong master key cannot open them.
            let stranger = SigningKeyRing(store: store, masterKey: Secret(Array(repeating: 9, count: 32)), rotation: 30 * day, tokenLifetime: 600)
            await #expect(throws: CitadelError.self) { try await stranger.signingKey(now: later) }
            let stored = try await store.signingKeys()
            #expect(stored.allSatisfy { !$0.sealedPrivateKey.isEmpty && $0.kid.count == 43 })
        }
    }
}
