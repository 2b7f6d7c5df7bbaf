#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging
import Synchronization
import TalosCore

/// swift-log handler writing one JSON object per line to standard error.
///
/// Fields: `time`, `level`, `logger`, `message`, then metadata. Values are
/// JSON-escaped, so no input can forge or split a line. What is logged is the
/// caller's responsibility: never bodies, passwords, tokens or secrets.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let sink: @Sendable ([UInt8]) -> Void

    /// Writes to standard error.
    public init(label: String, level: Logger.Level = .info) {
        self.init(label: label, level: level, sink: Self.writeToStandardError)
    }

    /// Hands each finished line (newline included) to `sink`.
    public init(label: String, level: Logger.Level, sink: @escaping @Sendable ([UInt8]) -> Void) {
        self.label = label
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        if let extra = event.metadata {
            for (key, value) in extra { fields[key] = "\(value)" }
        }
        fields["time"] = Timestamp.now()
        fields["level"] = event.level.rawValue
        fields["logger"] = label
        fields["message"] = "\(event.message)"
        guard var line = try? Self.encoder.encode(fields) else { return }
        line.append(UInt8(ascii: "\n"))
        sink(Array(line))
    }

    /// One `write(2)` per line under a lock, so lines never interleave.
    private static let writeToStandardError: @Sendable ([UInt8]) -> Void = { line in
        lock.withLock { _ in
            line.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return
                    }
                    offset += written
                }
            }
        }
    }

    private static let lock = Mutex(())

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Installs the handler process-wide at `level`.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
    }
}
