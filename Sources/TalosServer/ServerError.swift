/// Why the server refuses to start or to go on. The reason is meant for the
/// operator reading the console, says what to do, and never quotes a secret.
public struct ServerError: Error, CustomStringConvertible, Equatable {
    private enum Code: Equatable {
        case insecurePermissions
        case secretInEnvironment
        case secretInConfigFile
        case missingSecret
        case invalidSecret
        case invalidConfiguration
        case filesystem
        case tls
    }

    private let code: Code
    public let reason: String

    private init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }

    public static func == (lhs: ServerError, rhs: ServerError) -> Bool { lhs.code == rhs.code }

    public static func insecurePermissions(path: String, mode: UInt32) -> ServerError {
        ServerError(
            .insecurePermissions,
            "\(path) is accessible by group or others (mode \(String(mode & 0o777, radix: 8))); "
                + "run `chmod go-rwx \(path)` and start again"
        )
    }

    public static func secretInEnvironment(_ name: String) -> ServerError {
        ServerError(
            .secretInEnvironment,
            "refusing secret \(name) from the environment: environment variables leak into child processes, "
                + "crash dumps and `docker inspect`; put it in a file in the secrets directory instead"
        )
    }

    public static func secretInConfigFile(_ key: String) -> ServerError {
        ServerError(
            .secretInConfigFile,
            "refusing secret `\(key)` in the configuration file; put it in a file in the secrets directory instead"
        )
    }

    public static func missingSecret(_ name: String, directory: String) -> ServerError {
        ServerError(.missingSecret, "secret `\(name)` is missing: create \(directory)/\(name) with mode 0600")
    }

    public static func invalidSecret(_ name: String, _ why: String) -> ServerError {
        ServerError(.invalidSecret, "secret `\(name)` is not valid: \(why)")
    }

    public static func invalidConfiguration(_ why: String) -> ServerError {
        ServerError(.invalidConfiguration, "invalid configuration: \(why)")
    }

    public static func filesystem(_ why: String) -> ServerError {
        ServerError(.filesystem, why)
    }

    public static func tls(_ why: String) -> ServerError {
        ServerError(.tls, "TLS: \(why)")
    }

    public static let insecurePermissions = ServerError(.insecurePermissions, "insecure permissions")
    public static let secretInEnvironment = ServerError(.secretInEnvironment, "secret in environment")
    public static let secretInConfigFile = ServerError(.secretInConfigFile, "secret in configuration file")
}
