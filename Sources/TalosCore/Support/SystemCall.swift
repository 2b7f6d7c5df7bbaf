#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: its name and `errno`, nothing about paths or data.
public struct SystemCallError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call) failed: \(String(cString: strerror(errno)))"
    }
}

/// The one way Talos makes system calls: retries `EINTR`, turns a `-1` result
/// into ``SystemCallError`` carrying `errno`.
@discardableResult
public func systemCall<T: FixedWidthInteger>(_ name: String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemCallError(call: name, errno: code)
    }
}
