// libFuzzer target: JSON request bodies of every route that takes one, as
// the server decodes them (JSONDecoder into each DTO, DecodingProblem for
// the refusal), the executions body into its queue spec, and the executions
// list cursor.
@testable import Forge
import Foundation
@testable import TalosServer

func decodes<T: Decodable>(_ type: T.Type, _ data: Data) -> T? {
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let error as DecodingError {
        let message = DecodingProblem.explain(error)
        precondition(message.utf8.count <= 200, "refusals stay short: \(message.utf8.count) bytes")
        return nil
    } catch {
        return nil
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestBodies(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    _ = decodes(LoginRequest.self, bytes)
    _ = decodes(MFALoginRequest.self, bytes)
    _ = decodes(RefreshRequest.self, bytes)
    _ = decodes(AcceptRequest.self, bytes)
    _ = decodes(InviteRequest.self, bytes)
    _ = decodes(RoleRequest.self, bytes)
    _ = decodes(CodeRequest.self, bytes)
    _ = decodes(DisableRequest.self, bytes)
    _ = decodes(PasswordRequest.self, bytes)
    if let body = decodes(ExecutionSubmitRequest.self, bytes) {
        do {
            let spec = try body.spec()
            precondition(spec.files.count == (body.files?.count ?? 1), "every file given, or the one source")
        } catch {
            precondition(!error.message.isEmpty && error.message.utf8.count <= 200)
        }
    }
    let text = String(decoding: bytes, as: UTF8.self)
    if let cursor = ExecutionCursor.decode(text) {
        let again = ExecutionCursor.decode(ExecutionCursor.encode(createdAt: cursor.createdAt, id: cursor.id))
        precondition(again?.createdAt == cursor.createdAt && again?.id == cursor.id, "a cursor reads back")
    }
    return 0
}
