public import TalosCore

/// Where the data lives. SQLite is the embedded default; PostgreSQL is for
/// several processes or hosts.
public enum DatabaseSettings: Sendable {
    case sqlite(path: String)
    case postgres(PostgresSettings)
}

/// How to reach PostgreSQL. The password never comes from the URL: it is read
/// from a secret file and handed over here.
public struct PostgresSettings: Sendable {
    public enum TLSMode: String, Sendable {
        /// Plain TCP. Allowed only to a loopback address unless explicitly
        /// accepted with `allowInsecureRemote`.
        case disable
        /// TLS with full certificate and host name verification.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var database: String
    public var password: Secret<String>?
    public var tls: TLSMode
    /// PEM file of the CA that signed the server's certificate; system roots if nil.
    public var caFile: String?
    /// Connections kept per event loop.
    public var poolSizePerEventLoop: Int

    public init(
        host: String, port: Int = 5432, username: String, database: String,
        password: Secret<String>? = nil, tls: TLSMode, caFile: String? = nil,
        poolSizePerEventLoop: Int = 4
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.database = database
        self.password = password
        self.tls = tls
        self.caFile = caFile
        self.poolSizePerEventLoop = poolSizePerEventLoop
    }

    /// Parses `postgres://user@host:port/database?sslmode=disable|verify-full`.
    ///
    /// A password in the URL is refused: secrets come from files only. Without
    /// `sslmode`, loopback hosts default to `disable` and every other host to
    /// `verify-full`; `disable` towards a non-loopback host is refused unless
    /// `allowInsecureRemote` is set.
    public init(url: String, password: Secret<String>?, allowInsecureRemote: Bool = false) throws {
        guard let components = URLParts(url) else {
            throw StoreError.invalidDatabaseURL("expected postgres://user@host:port/database")
        }
        guard components.password == nil else {
            throw StoreError.insecureDatabaseURL(
                "the database URL contains a password; put it in the secret file `database_password` instead"
            )
        }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(components.host)
        let mode: TLSMode
        switch components.query["sslmode"] ?? components.query["tlsmode"] {
        case nil: mode = loopback ? .disable : .verifyFull
        case "disable": mode = .disable
        case "verify-full", "require": mode = .verifyFull
        case let other?:
            throw StoreError.invalidDatabaseURL("sslmode \(other) is not supported; use disable or verify-full")
        }
        if mode == .disable, !loopback, !allowInsecureRemote {
            throw StoreError.insecureDatabaseURL(
                "refusing plain-text PostgreSQL to a non-loopback host; use sslmode=verify-full"
            )
        }
        self.init(
            host: components.host, port: components.port ?? 5432, username: components.user,
            database: components.path, password: password, tls: mode
        )
    }
}

/// A small, strict parser for database URLs (no percent-decoding surprises in
/// host names; user names may be percent-encoded).
struct URLParts {
    var user: String
    var password: String?
    var host: String
    var port: Int?
    var path: String
    var query: [String: String]

    init?(_ text: String) {
        let schemes = ["postgres://", "postgresql://"]
        guard let scheme = schemes.first(where: { text.hasPrefix($0) }) else { return nil }
        var rest = Substring(text.dropFirst(scheme.count))
        var query: [String: String] = [:]
        if let mark = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                query[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            rest = rest[..<mark]
        }
        guard let at = rest.lastIndex(of: "@") else { return nil }
        let credentials = rest[..<at]
        var hostPart = rest[rest.index(after: at)...]
        guard let slash = hostPart.firstIndex(of: "/") else { return nil }
        let path = String(hostPart[hostPart.index(after: slash)...])
        hostPart = hostPart[..<slash]
        if let colon = credentials.firstIndex(of: ":") {
            self.user = String(credentials[..<colon]).removingPercentEncodingIfPossible
            self.password = String(credentials[credentials.index(after: colon)...])
        } else {
            self.user = String(credentials).removingPercentEncodingIfPossible
            self.password = nil
        }
        if hostPart.hasPrefix("["), let close = hostPart.firstIndex(of: "]") {
            self.host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
            let after = hostPart[hostPart.index(after: close)...]
            self.port = after.hasPrefix(":") ? Int(after.dropFirst()) : nil
        } else if let colon = hostPart.lastIndex(of: ":") {
            self.host = String(hostPart[..<colon])
            guard let port = Int(hostPart[hostPart.index(after: colon)...]) else { return nil }
            self.port = port
        } else {
            self.host = String(hostPart)
            self.port = nil
        }
        guard !user.isEmpty, !host.isEmpty, !path.isEmpty, !path.contains("/") else { return nil }
        self.path = path
        self.query = query
    }
}

extension String {
    fileprivate var removingPercentEncodingIfPossible: String {
        var bytes: [UInt8] = []
        var iterator = Array(utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let decoded = Hex.decode(String(decoding: [high, low], as: UTF8.self))
            {
                bytes.append(contentsOf: decoded)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
