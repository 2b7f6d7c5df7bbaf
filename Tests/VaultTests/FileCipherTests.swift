import Crypto
import Foundation
import Testing
import Vault

@Suite("File encryption")
struct FileCipherTests {
    static func cipher(_ fileID: UUID = UUID(), key: SymmetricKey = SymmetricKey(size: .bits256)) throws -> FileCipher {
        try FileCipher(key: key, fileID: fileID)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255) }
    }

    @Test("round-trips empty, one-chunk, exact-multiple and ragged files", arguments: [0, 1, 65_536, 65_537, 200_000])
    func roundTrip(_ size: Int) throws {
        let cipher = try Self.cipher()
        let plaintext = Self.randomBytes(size)
        let chunks = try cipher.seal(plaintext)
        #expect(chunks.count == max(1, (size + FileCipher.chunkSize - 1) / FileCipher.chunkSize))
        #expect(try cipher.open(chunks) == plaintext)
        if size > 32 { #expect(!chunks.joined().starts(with: plaintext.prefix(32)), "ciphertext is not plaintext") }
    }

    @Test("a flipped bit anywhere is refused")
    func tampering() throws {
        let cipher = try Self.cipher()
        var chunks = try cipher.seal(Self.randomBytes(100_000))
        for position in [0, 11, 12, 500, chunks[0].count - 1] {
            var tampered = chunks
            tampered[0][position] ^= 0x01
            #expect(throws: VaultError.corrupt) { try cipher.open(tampered) }
        }
        chunks.swapAt(0, 1)
        #expect(throws: VaultError.corrupt, "reordered chunks") { try cipher.open(chunks) }
    }

    @Test("truncation, chunks from another file and the wrong key are refused")
    func substitution() throws {
        let key = SymmetricKey(size: .bits256)
        let first = try Self.cipher(key: key)
        let second = try Self.cipher(key: key)
        let chunks = try first.seal(Self.randomBytes(150_000))
        #expect(throws: VaultError.corrupt, "last chunk cut off") { try first.open(Array(chunks.dropLast())) }
        #expect(throws: VaultError.corrupt, "same key, other file") { try second.open(chunks) }
        #expect(throws: VaultError.corrupt, "other key") { try Self.cipher(first.fileID).open(chunks) }
        #expect(throws: VaultError.corrupt, "nothing at all") { try first.open([]) }
    }

    @Test("wrapped keys open only under their key and context")
    func keyWrap() throws {
        let master = SymmetricKey(size: .bits256)
        let fileKey = SymmetricKey(size: .bits256)
        let wrapped = try KeyWrap.wrap(fileKey, under: master, context: "file:1")
        #expect(try KeyWrap.unwrap(wrapped, under: master, context: "file:1") == fileKey)
        #expect(throws: VaultError.corrupt) { try KeyWrap.unwrap(wrapped, under: master, context: "file:2") }
        #expect(throws: VaultError.corrupt) { try KeyWrap.unwrap(wrapped, under: SymmetricKey(size: .bits256), context: "file:1") }
        #expect(throws: VaultError.invalidKey) { try FileCipher(key: SymmetricKey(size: .bits128), fileID: UUID()) }
    }
}
