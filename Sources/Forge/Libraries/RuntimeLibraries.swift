import Foundation
import Synchronization

/// The shared libraries, loader and link inputs each stage of each runtime
/// needs from the host's library directories, computed from the toolchains
/// themselves, so a box mounts those files and nothing else of
/// `/usr/lib/x86_64-linux-gnu`.
///
/// A stage needs the closure, over `DT_NEEDED` and `PT_INTERP`, of every ELF
/// file its mounts hold. A compile stage that runs a native linker also
/// needs what its `link` inputs (`-lc`, `Scrt1.o`, …) resolve to the way
/// the linker resolves them, linker scripts (`libc.so`) followed; the run
/// stage after it gets the shared objects among those and what the program
/// it built names.
///
/// Containment: a file is mounted only if it is a regular file whose real
/// place lies under `library_path` or under one of the stage's own mounts,
/// and it is shown at a normal path outside the box's own directories;
/// anything else a file or script names is ignored.
struct RuntimeLibraries: Sendable {
    private let mountsByStage: [String: [ToolchainMount]]
    private let libraryPath: [String]

    /// The mounts of `language`'s compile or run stage.
    func mounts(language: String, compile: Bool) -> [ToolchainMount] {
        mountsByStage[Self.key(language, compile)] ?? []
    }

    /// The run stage's mounts for the program a compile stage left in
    /// `directory` (the host side of its read-only output): the stage's own,
    /// plus the closure of what the program's ELF files name, found in the
    /// library path only. The program is hostile input: it is read with the
    /// bounded ELF reader, never followed through links, and can pull in
    /// nothing outside the library path.
    func mounts(language: String, programIn directory: String) -> [ToolchainMount] {
        var closure = Closure(roots: libraryPath)
        var cache = ScanCache()
        closure.addProgramFiles(in: directory, cache: &cache)
        closure.complete(libraryPath: libraryPath, cache: &cache)
        let own = mounts(language: language, compile: false)
        let known = Set(own.map(\.destination))
        return own + closure.mounts(coveredBy: []).filter { !known.contains($0.destination) }
    }

    private static func key(_ language: String, _ compile: Bool) -> String {
        language + (compile ? "/compile" : "/run")
    }

    private static let computed = Mutex<[(catalog: RuntimeCatalog, libraries: RuntimeLibraries)]>([])

    /// `compute(catalog:)`, once per catalog in this process: engines that
    /// share a catalog share the walk.
    static func cached(catalog: RuntimeCatalog) -> RuntimeLibraries {
        if let known = computed.withLock({ $0.first(where: { $0.catalog == catalog })?.libraries }) { return known }
        let libraries = compute(catalog: catalog)
        computed.withLock { $0.append((catalog, libraries)) }
        return libraries
    }

    /// Walks the catalog's toolchains on this host. A runtime that is not
    /// installed gets what can be found, and its boxes fail to start as
    /// before: the engine never falls back to mounting whole directories.
    static func compute(catalog: RuntimeCatalog) -> RuntimeLibraries {
        var result: [String: [ToolchainMount]] = [:]
        var scanned = ScanCache()
        for runtime in catalog.runtimes {
            var linked = Closure(roots: catalog.libraryPath)
            if let compile = runtime.compile {
                let directories = compile.mounts.filter { $0.file != true }.map(\.source)
                var closure = Closure(roots: catalog.libraryPath + compile.mounts.map(\.source))
                closure.addELFFiles(in: compile.mounts, cache: &scanned)
                var expanded = Set<String>()
                for input in compile.link ?? [] {
                    closure.addLinkInput(input, searching: directories + catalog.libraryPath, into: &linked, expanded: &expanded, depth: 0)
                }
                closure.complete(libraryPath: catalog.libraryPath, cache: &scanned)
                result[key(runtime.language, true)] = closure.mounts(coveredBy: directories)
            }
            var run = linked
            run.widen(to: runtime.run.mounts.map(\.source))
            let directories = runtime.run.mounts.filter { $0.file != true }.map(\.source)
            run.addELFFiles(in: runtime.run.mounts, cache: &scanned)
            run.complete(libraryPath: catalog.libraryPath, cache: &scanned)
            result[key(runtime.language, false)] = run.mounts(coveredBy: directories)
        }
        return RuntimeLibraries(mountsByStage: result, libraryPath: catalog.libraryPath)
    }

    /// Files already parsed, shared between stages.
    struct ScanCache {
        var dependencies: [String: ELFDependencies?] = [:]

        mutating func dependencies(of path: String) -> ELFDependencies? {
            if let known = dependencies[path] { return known }
            let parsed = HostFile.readELF(path)
            dependencies[path] = parsed
            return parsed
        }
    }

    /// The host files one stage needs, by their canonical path.
    struct Closure {
        private(set) var files: Set<String> = []
        private var pending: [String] = []
        /// Real directories a needed file must lie under.
        private var roots: [String]

        init(roots: [String]) {
            self.roots = roots.compactMap(HostFile.resolvedPath)
        }

        mutating func widen(to more: [String]) {
            roots += more.compactMap(HostFile.resolvedPath)
        }

        /// Every ELF file under the stage's own mounts is a root: the
        /// executables it starts and the modules they load (Python's
        /// `lib-dynload`, the linker's plugins).
        mutating func addELFFiles(in mounts: [ToolchainMount], cache: inout ScanCache) {
            for mount in mounts {
                for path in HostFile.candidateELFFiles(under: mount.source) where cache.dependencies(of: path) != nil {
                    pending.append(path)
                }
            }
        }

        /// The regular files a compile stage left (links are not followed),
        /// at most 64 of them: roots, but never mounted themselves.
        mutating func addProgramFiles(in directory: String, cache: inout ScanCache) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names.sorted().prefix(64) {
                let path = directory + "/" + name
                var status = stat()
                guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
                    cache.dependencies(of: path) != nil
                else { continue }
                pending.append(path)
            }
        }

        /// Adds `path` if it is a regular file under the roots, and queues
        /// it for its own dependencies.
        mutating func add(_ path: String) {
            guard path.hasPrefix("/"), let canonical = HostFile.canonicalPath(path), let real = HostFile.resolvedPath(path),
                HostFile.isRegularFile(real), roots.contains(where: { real.hasPrefix($0 + "/") }),
                RuntimeCatalog.isNormalAbsolute(canonical), !RuntimeCatalog.isBoxOwn(canonical),
                files.insert(canonical).inserted
            else { return }
            pending.append(canonical)
        }

        /// Resolves one link input as the linker would: `-lname` is
        /// `libname.so`, then `libname.a`, directory by directory; another
        /// name is looked up as is; a linker script's inputs are followed,
        /// each script once. Shared objects also go to `linked`, what a
        /// linked program may load.
        mutating func addLinkInput(
            _ input: String, searching directories: [String], into linked: inout Closure, expanded: inout Set<String>, depth: Int
        ) {
            guard depth < 8 else { return }
            let found: String?
            if input.hasPrefix("/") {
                found = input
            } else if input.hasPrefix("-l") {
                let name = String(input.dropFirst(2))
                found = directories.lazy.compactMap { directory in
                    ["lib\(name).so", "lib\(name).a"].lazy.map { directory + "/" + $0 }.first(where: HostFile.isRegularFile)
                }.first
            } else {
                found = directories.lazy.map { $0 + "/" + input }.first(where: HostFile.isRegularFile)
            }
            guard let found, let canonical = HostFile.canonicalPath(found), expanded.insert(canonical).inserted else { return }
            add(found)
            guard files.contains(canonical) else { return }
            if let elf = HostFile.readELF(found) {
                if elf.isShared { linked.add(found) }
            } else if let script = HostFile.linkerScriptInputs(found) {
                for inner in script {
                    addLinkInput(inner, searching: directories, into: &linked, expanded: &expanded, depth: depth + 1)
                }
            }
        }

        /// Follows every queued file's interpreter and `DT_NEEDED` names,
        /// looked up in its run path and then the library path. Only
        /// absolute run-path entries and `$ORIGIN` are honoured.
        mutating func complete(libraryPath: [String], cache: inout ScanCache) {
            while let path = pending.popLast() {
                guard let elf = cache.dependencies(of: path) else { continue }
                if let interpreter = elf.interpreter { add(interpreter) }
                let origin = (path as NSString).deletingLastPathComponent
                let runPath = elf.searchPath.map {
                    $0.replacingOccurrences(of: "${ORIGIN}", with: origin).replacingOccurrences(of: "$ORIGIN", with: origin)
                }.filter { $0.hasPrefix("/") && !$0.contains("$") }
                for name in elf.needed {
                    if name.contains("/") {
                        add(name)
                    } else if let found = (runPath + libraryPath).lazy.map({ $0 + "/" + name }).first(where: HostFile.isRegularFile) {
                        add(found)
                    }
                }
            }
        }

        /// One read-only file mount per needed file that the stage's own
        /// directory mounts do not already show, at its canonical place.
        func mounts(coveredBy directories: [String]) -> [ToolchainMount] {
            let covered = directories.compactMap(HostFile.canonicalPath)
            return files.sorted().compactMap { path in
                guard !covered.contains(where: { path.hasPrefix($0 + "/") }), let source = HostFile.resolvedPath(path) else { return nil }
                return ToolchainMount(source: source, destination: path, file: true)
            }
        }
    }
}

/// Reading the host's toolchain files.
enum HostFile {
    /// Files under `path` (or `path` itself) that may be ELF objects worth
    /// reading: executables and shared objects. Links are not followed.
    static func candidateELFFiles(under path: String) -> [String] {
        var status = stat()
        guard stat(path, &status) == 0 else { return [] }
        if status.st_mode & S_IFMT == S_IFREG { return [path] }
        guard status.st_mode & S_IFMT == S_IFDIR, let walker = FileManager.default.enumerator(atPath: path) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let full = path + "/" + relative
            guard lstat(full, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
            let name = (relative as NSString).lastPathComponent
            if status.st_mode & 0o111 != 0 || name.hasSuffix(".so") || name.contains(".so.") { found.append(full) }
        }
        return found
    }

    /// Whether `path`, links followed, is a regular file.
    static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
    }

    /// The dependencies of the ELF file at `path`, or nil if it is not one.
    static func readELF(_ path: String) -> ELFDependencies? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        return ELFDependencies.parse { offset, count in
            guard offset >= 0, count >= 0, count <= 1 << 20 else { return nil }
            var buffer = [UInt8](repeating: 0, count: count)
            let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
            guard got >= 0 else { return nil }
            return Array(buffer.prefix(got))
        }
    }

    /// The inputs a GNU ld script names (`GROUP`, `INPUT`, `AS_NEEDED`),
    /// or nil if the file is not a short text script.
    static func linkerScriptInputs(_ path: String) -> [String]? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 64 * 1024), data.count < 64 * 1024,
            let text = String(data: data, encoding: .utf8)
        else { return nil }
        return LinkerScript.inputs(of: text)
    }

    /// `path` with its directory's links resolved but its own name kept:
    /// where the loader looks for it, as the box must show it.
    static func canonicalPath(_ path: String) -> String? {
        let directory = (path as NSString).deletingLastPathComponent
        guard let resolved = resolvedPath(directory.isEmpty ? "/" : directory) else { return nil }
        let name = (path as NSString).lastPathComponent
        return resolved == "/" ? "/" + name : resolved + "/" + name
    }

    /// `path` with every link resolved.
    static func resolvedPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
