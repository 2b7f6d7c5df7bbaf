// libFuzzer target: Judge0 submission bodies (Judge0Submission), from raw
// bytes through JSON to an execution or Judge0's 422 body, with and without
// base64_encoded.
@testable import Forge
import Foundation
@testable import TalosServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJudge0(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard let catalog = fuzzCatalog,
        let object = try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])
    else { return 0 }
    guard case .object(let members) = OrderedJSON.from(parsed: object) else { return 0 }
    for base64 in [false, true] {
        switch Judge0Submission(runtimes: catalog.runtimes, maxima: .defaultMaxima).read(members, base64: base64) {
        case .success(let spec):
            let limits = spec.limits
            precondition((limits.memoryMiB ?? 0) <= SandboxLimits.defaultMaxima.memoryMiB)
            precondition((limits.cpuMilliseconds ?? 0) <= SandboxLimits.defaultMaxima.cpuMilliseconds)
            precondition((limits.wallMilliseconds ?? 0) <= SandboxLimits.defaultMaxima.wallMilliseconds)
            precondition((limits.pids ?? 0) <= SandboxLimits.defaultMaxima.pids)
        case .failure(let errors):
            guard case .object(let fields) = errors else { preconditionFailure("the 422 body is an object") }
            precondition(!fields.isEmpty, "a refusal names at least one field")
        }
    }
    return 0
}
