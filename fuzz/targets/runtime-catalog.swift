// libFuzzer target: runtimes catalogs, which operators may replace
// (RuntimeCatalog.decode).
@testable import Forge
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRuntimeCatalog(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    if let catalog = try? RuntimeCatalog.decode(bytes) {
        for runtime in catalog.runtimes {
            let stages = [runtime.run] + (runtime.compile.map { [$0] } ?? [])
            for mount in catalog.libraries + stages.flatMap(\.mounts) {
                // Where the mount lands, however the path is spelled.
                let place = "/" + mount.destination.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
                precondition(!mount.destination.split(separator: "/").contains(".."))
                for protected in ["/box", "/tmp", "/src", "/proc", "/dev", "/.talos"] {
                    precondition(place != protected && !place.hasPrefix(protected + "/"), "\(mount.destination) lands in \(protected)")
                }
            }
            precondition(stages.allSatisfy { !$0.argv.isEmpty })
            precondition(stages.flatMap { $0.link ?? [] }.allSatisfy { !$0.contains("/") })
        }
        _ = try? catalog.runtime(for: "python")
    }
    return 0
}
