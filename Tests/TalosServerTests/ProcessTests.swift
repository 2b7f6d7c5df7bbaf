import Foundation
import TalosTestSupport
import Testing

/// Runs the real `talos` binary.
enum TalosBinary {
    static var path: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/talos").path
    }

    /// Starts `talos serve` on a free port and returns once it listens,
    /// with what it printed.
    /// Started as root, `talos serve` serves as the user `talos`, which must
    /// exist and reach the data directory.
    static func serve(dataDirectory: String) throws -> (Process, String) {
        var binary = path
        if getuid() == 0 {
            _ = try PrivilegeSeparationTests.serviceUser()
            let parent = (dataDirectory as NSString).deletingLastPathComponent
            chmod(parent, 0o711)
            binary = try copy(into: parent + "/bin")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--data-dir", dataDirectory, "--port", "0"]
        process.environment = ["TALOS_METRICS_ENABLED": "false", "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        // What it says on stderr is kept in a file beside the data directory
        // and handed back when it stops before listening.
        let errorsPath = dataDirectory + ".stderr"
        guard FileManager.default.createFile(atPath: errorsPath, contents: nil), let errors = FileHandle(forWritingAtPath: errorsPath) else {
            throw TestSetupError("cannot create \(errorsPath)")
        }
        defer { try? errors.close() }
        process.standardError = errors
        try process.run()
        var seen = ""
        while !seen.contains("Talos is listening") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                seen += (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? ""
                break
            }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        return (process, seen)
    }
}

extension TalosBinary {
    /// The binary and its resource bundles, copied where the service user can
    /// read them, wherever the clone lives.
    static func copy(into directory: String) throws -> String {
        let built = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for name in try FileManager.default.contentsOfDirectory(atPath: built) where name == "talos" || (name.hasPrefix("talos_") && name.hasSuffix(".resources")) {
            try FileManager.default.copyItem(atPath: built + "/" + name, toPath: directory + "/" + name)
        }
        // The service user runs the copy whatever umask the build ran under.
        let copied = FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? []
        for entry in ["."] + copied {
            let place = directory + "/" + entry
            let attributes = try FileManager.default.attributesOfItem(atPath: place)
            let kind = attributes[.type] as? FileAttributeType
            guard kind != .typeSymbolicLink else { continue }
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
            let executable = kind == .typeDirectory || mode & 0o100 != 0
            try FileManager.default.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: place)
        }
        return directory + "/talos"
    }
}

@Suite("The talos process")
struct ProcessTests {
    @Test("SIGTERM stops accepting, finishes, closes the database and exits 0")
    func sigterm() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (process, seen) = try TalosBinary.serve(dataDirectory: directory + "/data")
        #expect(seen.contains("Talos is listening on https://127.0.0.1:"), "\(seen)")
        #expect(seen.contains("TLS 1.3 only"))
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)

        // The stop is on the record and the trail verifies with the CLI.
        let verify = Process()
        verify.executableURL = URL(fileURLWithPath: TalosBinary.path)
        verify.arguments = ["audit", "verify", "--data-dir", directory + "/data"]
        let verifyOutput = Pipe()
        verify.standardOutput = verifyOutput
        try verify.run()
        verify.waitUntilExit()
        let report = String(decoding: verifyOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(verify.terminationStatus == 0, "\(report)")
        #expect(report.contains("audit trail intact"))

        let export = Process()
        export.executableURL = URL(fileURLWithPath: TalosBinary.path)
        export.arguments = ["audit", "export", "--data-dir", directory + "/data", "--since", "2000-01-01T00:00:00Z"]
        let exportOutput = Pipe()
        export.standardOutput = exportOutput
        try export.run()
        let lines = String(decoding: exportOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n")
        export.waitUntilExit()
        #expect(lines.first?.contains(#""action":"server.start""#) == true)
        #expect(lines.last?.contains(#""action":"server.stop""#) == true)
    }

    @Test("audit verify exits non-zero naming the first bad record")
    func verifyCatchesTampering() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/data"
        let (server, _) = try TalosBinary.serve(dataDirectory: data)
        server.terminate()
        server.waitUntilExit()
        // Edit the first line of the file copy.
        let file = data + "/audit/audit.jsonl"
        var text = try String(contentsOfFile: file, encoding: .utf8)
        text = text.replacingOccurrences(of: #""actor":"system""#, with: #""actor":"mallory""#)
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        let verify = Process()
        verify.executableURL = URL(fileURLWithPath: TalosBinary.path)
        verify.arguments = ["audit", "verify", "--data-dir", data]
        let verifyOutput = Pipe()
        verify.standardOutput = verifyOutput
        try verify.run()
        verify.waitUntilExit()
        let report = String(decoding: verifyOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(verify.terminationStatus == 1)
        #expect(report.contains("TAMPERED: record 1"), "\(report)")
    }

    @Test("talos admin create prints a one-time token once and refuses a fourth super admin")
    func adminCreate() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/data"
        let (server, greeting) = try TalosBinary.serve(dataDirectory: data)
        server.terminate()
        server.waitUntilExit()
        #expect(greeting.contains("talos admin create --email"), "serve says how to create the first admin")

        func create(_ email: String) throws -> (Int32, String, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: TalosBinary.path)
            process.arguments = ["admin", "create", "--email", email, "--data-dir", data]
            let output = Pipe()
            let errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text, errorText)
        }
        let (status, text, _) = try create("first@example.com")
        #expect(status == 0)
        #expect(text.contains("Created super admin first@example.com"))
        #expect(text.contains("pending"))
        let token = try #require(text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { $0.count == 43 })
        let auditFile = try String(contentsOfFile: data + "/audit/audit.jsonl", encoding: .utf8)
        #expect(!auditFile.contains(token))
        #expect(auditFile.contains("account.create_super_admin"))
        for index in 2...3 { #expect(try create("admin\(index)@example.com").0 == 0) }
        let (refused, _, refusal) = try create("fourth@example.com")
        #expect(refused == 1)
        #expect(refusal.contains("already 3 super_admin accounts"))
    }
}
