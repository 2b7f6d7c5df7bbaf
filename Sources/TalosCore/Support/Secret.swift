/// A value that must never reach a log line, an error message or a debug dump.
///
/// Its descriptions are fixed redaction markers; the value is reachable only
/// through ``unsafeValue``, whose name makes every use visible in review.
public struct Secret<Value: Sendable>: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let unsafeValue: Value

    public init(_ value: Value) {
        self.unsafeValue = value
    }

    public var description: String { "[redacted]" }
    public var debugDescription: String { "[redacted]" }
}
