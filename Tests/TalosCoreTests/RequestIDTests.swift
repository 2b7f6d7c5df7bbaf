import Foundation
import TalosCore
import Testing

@Suite("Request ids")
struct RequestIDTests {
    @Test("safe client ids are kept", arguments: ["abc-123", "A.b_c-9", String(repeating: "x", count: 64)])
    func keepsSafe(_ candidate: String) {
        #expect(RequestID(validating: candidate)?.value == candidate)
    }

    @Test(
        "unsafe client ids are refused",
        arguments: [
            "", String(repeating: "x", count: 65), "has space", "new\nline", "quote\"", "semi;colon", "ünïcode",
            "a/b", "<script>", "\u{0}",
        ]
    )
    func refusesUnsafe(_ candidate: String) {
        #expect(RequestID(validating: candidate) == nil)
    }

    @Test("generated ids are 32 hex digits and distinct")
    func generated() {
        let ids = (0..<1000).map { _ in RequestID.generate().value }
        #expect(Set(ids).count == 1000)
        for id in ids {
            #expect(id.utf8.count == 32)
            #expect(Hex.decode(id) != nil)
            #expect(RequestID(validating: id) != nil)
        }
    }
}

@Suite("Encoding helpers")
struct EncodingTests {
    @Test("hex round-trips and rejects bad input")
    func hex() {
        let bytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xfe, 0xff]
        #expect(Hex.encode(bytes) == "00017f80feff")
        #expect(Hex.decode("00017F80FEFF") == bytes)
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }

    @Test("timestamps are RFC 3339 UTC with milliseconds and parse back")
    func timestamps() throws {
        let text = Timestamp.now()
        #expect(text.utf8.count == 24)
        #expect(text.hasSuffix("Z"))
        let parsed = try #require(Timestamp.parse(text))
        let reparsed = try #require(Timestamp.parse(Timestamp.string(from: parsed)))
        #expect(abs(reparsed.timeIntervalSince(parsed)) < 0.002)
        #expect(Timestamp.parse("2026-11-01T00:00:00Z") != nil)
        #expect(Timestamp.parse("yesterday") == nil)
    }

    @Test("secrets never print")
    func secretRedaction() {
        let secret = Secret("hunter2-hunter2")
        #expect("\(secret)" == "[redacted]")
        #expect(String(reflecting: secret) == "[redacted]")
        #expect(!"\([secret])".contains("hunter2"))
    }
}
