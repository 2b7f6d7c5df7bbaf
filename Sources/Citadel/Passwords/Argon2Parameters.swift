/// argon2id cost parameters.
///
/// The default, m = 64 MiB, t = 2, p = 1, is above OWASP's floor
/// (m = 19 MiB, t = 2, p = 1): on the 2-core VPS Talos targets it costs
/// about 0.1 s a hash, so an attacker with a stolen database pays
/// 3.4× the memory per guess of the OWASP floor, while hashing stays capped at one per core
/// (128 MiB at most in flight) so logins cannot exhaust memory.
public struct Argon2Parameters: Sendable, Equatable, CustomStringConvertible {
    /// Memory in KiB.
    public var memoryKiB: UInt32
    public var iterations: UInt32
    public var parallelism: UInt32

    public static let owaspMinimum = Argon2Parameters(memoryKiB: 19 * 1024, iterations: 2, parallelism: 1)
    public static let standard = Argon2Parameters(memoryKiB: 64 * 1024, iterations: 2, parallelism: 1)

    public init(memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
    }

    /// At least OWASP's floor on memory and iterations, and sane upper bounds.
    public var isAcceptable: Bool {
        memoryKiB >= Self.owaspMinimum.memoryKiB && memoryKiB <= 4 * 1024 * 1024
            && iterations >= Self.owaspMinimum.iterations && iterations <= 64
            && (1...16).contains(parallelism)
    }

    public var description: String { "m=\(memoryKiB),t=\(iterations),p=\(parallelism)" }

    /// The parameters of a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`),
    /// or nil if it is not an argon2id v1.3 hash.
    public init?(phc: String) {
        let fields = phc.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0].isEmpty, fields[1] == "argon2id", fields[2] == "v=19" else { return nil }
        var values: [Substring: UInt32] = [:]
        for pair in fields[3].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = UInt32(parts[1]) else { return nil }
            values[parts[0]] = value
        }
        guard let m = values["m"], let t = values["t"], let p = values["p"], values.count == 3 else { return nil }
        self.init(memoryKiB: m, iterations: t, parallelism: p)
    }
}
