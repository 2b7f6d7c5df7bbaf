public import Crypto
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// AES-256-GCM over fixed-size chunks, one random key per file.
///
/// Each sealed chunk is `nonce (12) ‖ ciphertext ‖ tag (16)`. The associated
/// data binds the file id, the chunk index and whether the chunk is the last
/// one, so chunks cannot be edited, reordered, moved to another file, or cut
/// off the end without ``open(_:)`` failing.
public struct FileCipher: Sendable {
    public static let chunkSize = 64 * 1024
    static let overhead = 12 + 16

    private let key: SymmetricKey
    public let fileID: UUID

    /// - Parameter key: a 256-bit file key.
    public init(key: SymmetricKey, fileID: UUID) throws {
        guard key.bitCount == 256 else { throw VaultError.invalidKey }
        self.key = key
        self.fileID = fileID
    }

    public func sealChunk(_ plaintext: some DataProtocol, index: UInt64, isFinal: Bool) throws -> [UInt8] {
        guard plaintext.count <= Self.chunkSize else { throw VaultError.chunkTooLarge }
        let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(), authenticating: associatedData(index, isFinal))
        return Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
    }

    public func openChunk(_ sealed: [UInt8], index: UInt64, isFinal: Bool) throws -> [UInt8] {
        guard sealed.count >= Self.overhead, sealed.count <= Self.chunkSize + Self.overhead else {
            throw VaultError.corrupt
        }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: sealed[0..<12]),
                ciphertext: sealed[12..<(sealed.count - 16)],
                tag: sealed[(sealed.count - 16)...]
            )
            return Array(try AES.GCM.open(box, using: key, authenticating: associatedData(index, isFinal)))
        } catch {
            throw VaultError.corrupt
        }
    }

    /// Splits `plaintext` into chunks and seals each; an empty file is one empty final chunk.
    public func seal(_ plaintext: [UInt8]) throws -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var offset = 0
        repeat {
            let end = min(offset + Self.chunkSize, plaintext.count)
            chunks.append(try sealChunk(plaintext[offset..<end], index: UInt64(chunks.count), isFinal: end == plaintext.count))
            offset = end
        } while offset < plaintext.count
        return chunks
    }

    /// Opens every chunk in order; fails on any tampering, reordering or truncation.
    public func open(_ chunks: [[UInt8]]) throws -> [UInt8] {
        guard !chunks.isEmpty else { throw VaultError.corrupt }
        var plaintext: [UInt8] = []
        for (index, chunk) in chunks.enumerated() {
            plaintext += try openChunk(chunk, index: UInt64(index), isFinal: index == chunks.count - 1)
        }
        return plaintext
    }

    private func associatedData(_ index: UInt64, _ isFinal: Bool) -> [UInt8] {
        var data = Array("talos-vault-chunk:v1".utf8)
        withUnsafeBytes(of: fileID.uuid) { data += $0 }
        withUnsafeBytes(of: index.bigEndian) { data += $0 }
        data.append(isFinal ? 1 : 0)
        return data
    }
}

/// Envelope keys: a key wrapped (AES-256-GCM) under another, bound to what
/// it is for, so a wrapped key cannot be replayed in another context.
public enum KeyWrap {
    public static func wrap(_ key: SymmetricKey, under wrappingKey: SymmetricKey, context: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(
            key.withUnsafeBytes { Array($0) }, using: wrappingKey, nonce: AES.GCM.Nonce(),
            authenticating: Array("talos-vault-key:v1:\(context)".utf8)
        )
        return Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
    }

    public static func unwrap(_ wrapped: [UInt8], under wrappingKey: SymmetricKey, context: String) throws -> SymmetricKey {
        guard wrapped.count == 12 + 32 + 16 else { throw VaultError.corrupt }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: wrapped[0..<12]), ciphertext: wrapped[12..<44], tag: wrapped[44...]
            )
            let raw = try AES.GCM.open(box, using: wrappingKey, authenticating: Array("talos-vault-key:v1:\(context)".utf8))
            return SymmetricKey(data: raw)
        } catch {
            throw VaultError.corrupt
        }
    }
}

/// Why Vault refused. Deliberately coarse: a failed decryption says nothing
/// about which byte or key was wrong.
public struct VaultError: Error, Equatable, CustomStringConvertible {
    private enum Code: Equatable {
        case corrupt
        case invalidKey
        case chunkTooLarge
    }

    private let code: Code
    public let reason: String

    private init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }

    public static func == (lhs: VaultError, rhs: VaultError) -> Bool { lhs.code == rhs.code }

    public static let corrupt = VaultError(.corrupt, "the data failed authentication")
    public static let invalidKey = VaultError(.invalidKey, "keys must be 256 bits")
    public static let chunkTooLarge = VaultError(.chunkTooLarge, "a chunk is larger than the chunk size")
}
