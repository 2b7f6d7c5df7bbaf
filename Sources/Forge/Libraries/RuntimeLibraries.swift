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
/// stage after it needs the shared objects among those, since a program can
/// name no library its link did not see.
struct RuntimeLibraries: Sendable {
    private let mountsByStage: [String: [ToolchainMount]]

    /// The mounts of `language`'s compile or run stage.
    func mounts(language: String, compile: Bool) -> [ToolchainMount] {
        mountsByStage[Self.key(language, compile)] ?? []
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
            var linked = Closure()
            if let compile = runtime.compile {
                var closure = Closure()
                let directories = compile.mounts.filter { $0.file != true }.map(\.source)
                closure.addELFFiles(in: compile.mounts, cache: &scanned)
                for input in compile.link ?? [] {
                    closure.addLinkInput(input, searching: directories + catalog.libraryPath, into: &linked, depth: 0)
                }
                closure.complete(libraryPath: catalog.libraryPath, cache: &scanned)
                result[key(runtime.language, true)] = closure.mounts(coveredBy: directories)
            }
            var run = linked
            let directories = runtime.run.mounts.filter { $0.file != true }.map(\.source)
            run.addELFFiles(in: runtime.run.mounts, cache: &scanned)
            run.complete(libraryPath: catalog.libraryPath, cache: &scanned)
            result[key(runtime.language, false)] = run.mounts(coveredBy: directories)
        }
        return RuntimeLibraries(mountsByStage: result)
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

        /// Adds `path` and queues it for its own dependencies.
        mutating func add(_ path: String) {
            guard let canonical = HostFile.canonicalPath(path), files.insert(canonical).inserted else { return }
            pending.append(canonical)
        }

        /// Resolves one link input as the linker would: `-lname` is
        /// `libname.so`, then `libname.a`, directory by directory; another
        /// name is looked up as is; a linker script's inputs are followed.
        /// Shared objects also go to `linked`, what a linked program may load.
        mutating func addLinkInput(_ input: String, searching directories: [String], into linked: inout Closure, depth: Int) {
            guard depth < 8 else { return }
            let found: String?
            if input.hasPrefix("/") {
                found = FileManager.default.fileExists(atPath: input) ? input : nil
            } else if input.hasPrefix("-l") {
                let name = String(input.dropFirst(2))
                found = directories.lazy.compactMap { directory in
                    ["lib\(name).so", "lib\(name).a"].lazy.map { directory + "/" + $0 }.first(where: FileManager.default.fileExists(atPath:))
                }.first
            } else {
                found = directories.lazy.map { $0 + "/" + input }.first(where: FileManager.default.fileExists(atPath:))
            }
            guard let found else { return }
            add(found)
            if let elf = HostFile.readELF(found) {
                if elf.isShared { linked.add(found) }
            } else if let script = HostFile.linkerScriptInputs(found) {
                for inner in script {
                    addLinkInput(inner, searching: directories, into: &linked, depth: depth + 1)
                }
            }
        }

        /// Follows every queued file's interpreter and `DT_NEEDED` names,
        /// looked up in its run path and then the library path.
        mutating func complete(libraryPath: [String], cache: inout ScanCache) {
            while let path = pending.popLast() {
                guard let elf = cache.dependencies(of: path) else { continue }
                if let interpreter = elf.interpreter { add(interpreter) }
                let origin = (path as NSString).deletingLastPathComponent
                let search = elf.searchPath.map { $0.replacingOccurrences(of: "$ORIGIN", with: origin) } + libraryPath
                for name in elf.needed {
                    if name.contains("/") {
                        add(name.hasPrefix("/") ? name : origin + "/" + name)
                    } else if let found = search.lazy.map({ $0 + "/" + name }).first(where: FileManager.default.fileExists(atPath:)) {
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
