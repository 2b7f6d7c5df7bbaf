@testable import Forge
import Foundation
import Testing

@Suite("Computed library mounts")
struct RuntimeLibrariesTests {
    static let directory = "/usr/lib/x86_64-linux-gnu/"

    static func names(_ libraries: RuntimeLibraries, _ language: String, compile: Bool) -> Set<String> {
        Set(libraries.mounts(language: language, compile: compile).map(\.destination))
    }

    @Test("each stage gets its toolchain's libraries and nothing of the others'")
    func closures() throws {
        let libraries = RuntimeLibraries.compute(catalog: try RuntimeCatalog.builtIn())
        let python = Self.names(libraries, "python", compile: false)
        for needed in ["libc.so.6", "libm.so.6", "libz.so.1", "libexpat.so.1", "libssl.so.3", "libcrypto.so.3", "libffi.so.8", "libsqlite3.so.0"] {
            #expect(python.contains(Self.directory + needed), "python needs \(needed)")
        }
        #expect(python.contains("/usr/lib64/ld-linux-x86-64.so.2"), "the interpreter its executables name")
        let rustCompile = Self.names(libraries, "rust", compile: true)
        for needed in ["libLLVM-14.so.1", "libc.so", "libc.so.6", "libc_nonshared.a", "Scrt1.o", "crti.o", "libgcc_s.so.1", "libbfd-2.40-system.so"] {
            #expect(rustCompile.contains(Self.directory + needed), "the Rust compile needs \(needed)")
        }
        let rustRun = Self.names(libraries, "rust", compile: false)
        #expect(rustRun.contains(Self.directory + "libc.so.6") && rustRun.contains(Self.directory + "libgcc_s.so.1"))
        #expect(rustRun.contains("/usr/lib64/ld-linux-x86-64.so.2"))
        // What one runtime needs is not mounted into another's boxes.
        for foreign in ["libLLVM-14.so.1", "libbfd-2.40-system.so", "libc.so", "libc_nonshared.a"] {
            #expect(!python.contains(Self.directory + foreign) && !rustRun.contains(Self.directory + foreign), "\(foreign) stays out")
        }
        #expect(!Self.names(libraries, "javascript", compile: false).contains(Self.directory + "libexpat.so.1"))
        #expect(python.count < 80 && rustCompile.count < 120, "files, not directories: \(python.count), \(rustCompile.count)")
        // Every mount is one existing file, shown where the loader looks for it.
        for mount in ["python", "javascript", "go", "rust", "c", "cpp"].flatMap({
            libraries.mounts(language: $0, compile: false) + libraries.mounts(language: $0, compile: true)
        }) {
            #expect(mount.file == true && FileManager.default.fileExists(atPath: mount.source))
            #expect(mount.destination.hasPrefix("/usr/lib/") || mount.destination.hasPrefix("/usr/lib64/"))
        }
    }

    @Test("a catalog link input that names a path or climbs out is refused")
    func linkInputsAreNames() throws {
        for input in ["/etc/shadow", "../../etc/shadow", "-l../x", "a b", ""] {
            var catalog = try RuntimeCatalog.builtIn()
            catalog.runtimes[0].run.link = [input]
            let data = try JSONEncoder().encode(catalog)
            #expect(throws: ForgeError.self, "\(input)") { try RuntimeCatalog.decode(data) }
        }
    }

    @Test("a catalog mount spelled to land on the box's own directories is refused")
    func mountSpellings() throws {
        for destination in ["//box/etc", "/./tmp/x", "/src/", "/usr/../box", "/proc/.", "box", "/usr//lib", "/", "/box\u{0}x", "/usr/li\nb", "/etc/passwd"] {
            var catalog = try RuntimeCatalog.builtIn()
            catalog.runtimes[0].run.mounts.append(ToolchainMount(source: "/usr", destination: destination))
            let data = try JSONEncoder().encode(catalog)
            #expect(throws: ForgeError.self, "\(destination)") { try RuntimeCatalog.decode(data) }
        }
        var catalog = try RuntimeCatalog.builtIn()
        catalog.libraryPath = ["/usr/lib/../../etc"]
        #expect(throws: ForgeError.self) { try RuntimeCatalog.decode(try JSONEncoder().encode(catalog)) }
    }

    @Test("what a toolchain's files name is mounted only from the library path and the stage's own mounts")
    func containment() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("talos-libs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A planted toolchain: scripts that name host secrets, and one that
        // names itself many times over (expanded once, not 30^8 times).
        try "INPUT ( /etc/shadow /etc/hostname -lc )".write(toFile: directory + "/libevil.so", atomically: true, encoding: .utf8)
        try "INPUT ( \(Array(repeating: "libwide.so", count: 30).joined(separator: " ")) )".write(
            toFile: directory + "/libwide.so", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory + "/libdir.so", withIntermediateDirectories: true)
        var catalog = try RuntimeCatalog.builtIn()
        let index = try #require(catalog.runtimes.firstIndex { $0.language == "rust" })
        catalog.runtimes[index].compile?.mounts.append(ToolchainMount(source: directory, destination: "/opt/planted"))
        catalog.runtimes[index].compile?.link = ["-levil", "-lwide", "-ldir", "Scrt1.o"]
        let libraries = RuntimeLibraries.compute(catalog: catalog)
        let compile = libraries.mounts(language: "rust", compile: true)
        #expect(!compile.contains { $0.source.hasPrefix("/etc") || $0.destination.hasPrefix("/etc") }, "host files outside the roots stay out")
        #expect(compile.contains { $0.destination == Self.directory + "libc.so.6" }, "what the script may name is still found")
        #expect(compile.allSatisfy { $0.file == true && RuntimeCatalog.isNormalAbsolute($0.destination) && !RuntimeCatalog.isBoxOwn($0.destination) })
        for input in [".", "..", "...", "-l."] {
            var bad = try RuntimeCatalog.builtIn()
            bad.runtimes[index].compile?.link = [input]
            #expect(throws: ForgeError.self, "\(input)") { try RuntimeCatalog.decode(try JSONEncoder().encode(bad)) }
        }
    }

    @Test("linker scripts: inputs read, anything else refused")
    func linkerScripts() {
        let libc = """
            /* GNU ld script
               Use the shared library, but some functions are only in
               the static library, so try that secondarily.  */
            OUTPUT_FORMAT(elf64-x86-64)
            GROUP ( /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc_nonshared.a  AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 ) )
            """
        #expect(
            LinkerScript.inputs(of: libc) == [
                "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc_nonshared.a", "/lib64/ld-linux-x86-64.so.2",
            ])
        #expect(LinkerScript.inputs(of: "GROUP ( libgcc_s.so.1 -lgcc )") == ["libgcc_s.so.1", "-lgcc"])
        for hostile in ["", "GROUP (", "GROUP ( a", ")", "/* open", "GROUP ( ../../etc/shadow )", "SECTIONS { }", "GROUP ( a ( b ) )", String(repeating: "(", count: 10_000)] {
            #expect(LinkerScript.inputs(of: hostile) == nil, "\(hostile.prefix(20))")
        }
    }

    @Test("the ELF reader reads real files and survives damaged ones")
    func damagedELF() throws {
        let path = "/usr/bin/python3.11"
        let original = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        // Reads `original` with its first `head.count` bytes replaced by `head`.
        func parse(head: [UInt8], length: Int) -> ELFDependencies? {
            ELFDependencies.parse { offset, count in
                guard offset >= 0, count >= 0, offset <= length else { return nil }
                let end = offset + min(count, length - offset)
                return (offset..<end).map { $0 < head.count ? head[$0] : original[$0] }
            }
        }
        let header = Array(original.prefix(1_024))
        let real = try #require(parse(head: header, length: original.count))
        #expect(real.needed.contains("libc.so.6") && real.interpreter == "/lib64/ld-linux-x86-64.so.2")
        #expect(HostFile.readELF(path) == real)
        #expect(HostFile.readELF("/etc/hostname") == nil && HostFile.readELF("/nonexistent") == nil)
        // Truncations at every header boundary and seeded damage to the
        // headers: an answer or nil, never a trap.
        for length in [0, 4, 16, 63, 64, 65, 120, 500, 4_096, 1 << 20] {
            #expect(parse(head: header, length: length)?.needed.isEmpty ?? true, "cut at \(length)")
        }
        var generator = SplitMix(seed: 0x7A105)
        for _ in 0..<3_000 {
            var bytes = header
            for _ in 0..<(1 + Int(generator.next() % 8)) {
                bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
            }
            if generator.next() % 4 == 0 { bytes[56] = 0xFF; bytes[57] = 0xFF }
            if generator.next() % 4 == 0 { for index in 32..<40 { bytes[index] = 0xFF } }
            _ = parse(head: bytes, length: original.count)
        }
    }
}

/// A small deterministic generator, so a failure replays.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}

extension ForgeSandboxTests {
    @Test("a box shows only its own runtime's libraries, and the runtimes still work with them")
    func boxLibraries() async throws {
        let engine = try TestSandbox.sharedEngine()
        let python = try SourceFile(
            name: "main.py",
            text: """
                import os, ssl, sqlite3, lzma, bz2, zlib, hashlib, ctypes, decimal, json
                sqlite3.connect(':memory:').execute('select 1')
                names = sorted(os.listdir('/usr/lib/x86_64-linux-gnu'))
                print(len(names), 'libLLVM-14.so.1' in names, 'libpq.so.5' in names, 'libc.so.6' in names)
                print(sorted(os.listdir('/lib64')), os.path.exists('/lib/x86_64-linux-gnu/libc.so.6'))
                """
        )
        let result = try await engine.execute(ExecutionRequest(language: "python", files: [python], stdin: [], limits: LimitRequest()))
        let run = try #require(result.run)
        #expect(result.verdict == .ok, "\(run.stderr.suffix(400))")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        let expected = engine.libraries.mounts(language: "python", compile: false).filter { $0.destination.hasPrefix("/usr/lib/x86_64-linux-gnu/") }.count
        #expect(lines.first == "\(expected) False False True", "only the computed files: \(lines)")
        #expect(lines.dropFirst().first == "['ld-linux-x86-64.so.2'] True")

        let rust = try SourceFile(
            name: "main.rs",
            text: """
                fn main() {
                    let names: Vec<String> = std::fs::read_dir("/usr/lib/x86_64-linux-gnu").unwrap()
                        .map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
                    println!("{} {} {}", names.contains(&"libLLVM-14.so.1".to_string()),
                        names.contains(&"libc.so".to_string()), names.contains(&"libgcc_s.so.1".to_string()));
                }
                """
        )
        let compiled = try await engine.execute(ExecutionRequest(language: "rust", files: [rust], stdin: [], limits: LimitRequest()))
        #expect(compiled.verdict == .ok, "\(compiled.compile?.stderr.suffix(400) ?? "") \(compiled.run?.stderr.suffix(400) ?? "")")
        #expect(compiled.run?.stdout == "false false true\n", "the program sees its runtime libraries, not the compiler's")

        // A program may link what its compile box could link against; its
        // run box then gets exactly that, read from the program it built.
        let linksMore = try SourceFile(
            name: "main.rs",
            text: """
                use std::ffi::CStr;
                #[link(name = "stdc++")]
                extern "C" { fn __cxa_demangle(m: *const i8, o: *mut i8, l: *mut usize, s: *mut i32) -> *mut i8; }
                fn main() {
                    let mut status = 0i32;
                    let out = unsafe { __cxa_demangle(b"_Z3fooi\\0".as_ptr() as *const i8, std::ptr::null_mut(), std::ptr::null_mut(), &mut status) };
                    println!("{}", unsafe { CStr::from_ptr(out) }.to_str().unwrap());
                }
                """
        )
        let linked = try await engine.execute(ExecutionRequest(language: "rust", files: [linksMore], stdin: [], limits: LimitRequest()))
        #expect(linked.verdict == .ok && linked.run?.stdout == "foo(int)\n", "\(linked.compile?.stderr.suffix(400) ?? "") \(linked.run?.stderr.suffix(400) ?? "")")

        let node = try SourceFile(
            name: "main.js",
            text: "const c = require('crypto'), z = require('zlib'); console.log(c.createHash('sha256').update(z.gzipSync('x')).digest('hex').length)\n"
        )
        let javascript = try await engine.execute(ExecutionRequest(language: "javascript", files: [node], stdin: [], limits: LimitRequest()))
        #expect(javascript.verdict == .ok && javascript.run?.stdout == "64\n", "\(javascript.run?.stderr.suffix(400) ?? "")")
        await engine.settled()
        #expect(TestSandbox.leftovers(of: engine).isEmpty)
    }
}
