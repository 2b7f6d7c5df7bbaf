// libFuzzer target: Piston execute requests (PistonRequest), from raw bytes
// through JSON to an execution or Piston's message.
@testable import Forge
import Foundation
@testable import TalosServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPiston(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard let catalog = fuzzCatalog,
        let object = try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]),
        case .object(let members) = OrderedJSON.from(parsed: object)
    else { return 0 }
    var body: [String: OrderedJSON] = [:]
    for (key, value) in members { body[key] = value }
    switch PistonRequest(runtimes: catalog.runtimes, maxima: .defaultMaxima).read(body) {
    case .success(let spec):
        precondition(!spec.files.isEmpty)
        for limits in [spec.limits, spec.compileLimits] {
            precondition((limits.memoryMiB ?? 0) <= SandboxLimits.defaultMaxima.memoryMiB)
            precondition((limits.wallMilliseconds ?? 0) <= SandboxLimits.defaultMaxima.wallMilliseconds)
        }
    case .failure(let message):
        precondition(!message.isEmpty && message.utf8.count < 400, "messages are short and never echo a whole input")
    }
    _ = PistonRequest.hex(String(decoding: bytes, as: UTF8.self))
    return 0
}
