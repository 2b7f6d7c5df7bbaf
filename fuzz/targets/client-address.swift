// libFuzzer target: X-Forwarded-For and peer addresses (ClientAddress).
@testable import TalosServer
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClientAddress(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parts = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
    let peer = parts.first ?? ""
    let forwarded = parts.count > 1 ? parts[1] : nil
    let resolved = ClientAddress.resolve(peer: peer, forwardedFor: forwarded, trustedProxies: [peer, "127.0.0.1"])
    precondition(resolved == peer || ClientAddress.isPlausibleIP(resolved), "only plausible addresses come from the header")
    _ = ClientAddress.bucketKey(resolved)
    _ = ClientAddress.bucketKey(text)
    if let mapped = ClientAddress.ipv4Mapped(text) { precondition(mapped.split(separator: ".").count == 4) }
    return 0
}
