public import Foundation

/// A read-only bind mount of host toolchain files into a box.
public struct ToolchainMount: Sendable, Codable, Equatable {
    public var source: String
    public var destination: String
    /// A single file rather than a directory.
    public var file: Bool?
    /// Mounted only where the host has it: files one packaging of a
    /// toolchain keeps apart and another builds in (Debian's Node reads its
    /// bundled modules from /usr/share/nodejs, other builds carry them).
    public var optional: Bool?

    public init(source: String, destination: String, file: Bool? = nil, optional: Bool? = nil) {
        self.source = source
        self.destination = destination
        self.file = file
        self.optional = optional
    }

    /// Whether a box gets this mount on this host.
    var isPresent: Bool {
        optional != true || FileManager.default.fileExists(atPath: source)
    }
}

/// How one stage (compile or run) of a runtime is started.
public struct StageSpec: Sendable, Codable, Equatable {
    /// `{main}`, `{sources}` and `{heap_mib}` are expanded.
    public var argv: [String]
    /// The complete environment: nothing of the host's leaks in.
    public var env: [String]
    public var mounts: [ToolchainMount]
    /// Defaults for this stage, lower or higher than the engine's.
    public var limits: LimitRequest?
    /// What this stage's native linker is asked to link besides the
    /// program (`-lc`, `Scrt1.o`, …): the engine mounts what these resolve
    /// to, and the run stage after it the shared objects among them.
    public var link: [String]?
}

/// One language the Forge can run.
public struct Runtime: Sendable, Codable, Equatable {
    public var language: String
    public var version: String
    /// The entry file's name when a single source is given.
    public var sourceFile: String
    /// Files with this extension are passed as `{sources}`.
    public var fileExtension: String
    /// The Debian package that provides it, for `make` and `doctor`.
    public var package: String
    public var compile: StageSpec?
    public var run: StageSpec
    /// Printed by the runtime when its own heap cap stops the program.
    public var heapExhaustionMarker: String?

    enum CodingKeys: String, CodingKey {
        case language, version, package, compile, run
        case heapExhaustionMarker = "heap_exhaustion_marker"
        case sourceFile = "source_file"
        case fileExtension = "extension"
    }
}

/// The runtimes catalog: a data file (`runtimes.json`, shipped with Forge),
/// replaceable by an operator's file.
public struct RuntimeCatalog: Sendable, Codable, Equatable {
    /// Where the loader and the linker look for libraries, in order. Each
    /// stage mounts only the files it needs from these, computed from its
    /// toolchain (`RuntimeLibraries`), never the directories themselves.
    public var libraryPath: [String]
    /// Extra mounts every box gets; none by default.
    public var libraries: [ToolchainMount]
    public var runtimes: [Runtime]

    public static let defaultLibraryPath = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"]

    enum CodingKeys: String, CodingKey {
        case libraries, runtimes
        case libraryPath = "library_path"
    }

    public init(libraryPath: [String] = defaultLibraryPath, libraries: [ToolchainMount] = [], runtimes: [Runtime]) {
        self.libraryPath = libraryPath
        self.libraries = libraries
        self.runtimes = runtimes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        libraryPath = try container.decodeIfPresent([String].self, forKey: .libraryPath) ?? Self.defaultLibraryPath
        libraries = try container.decodeIfPresent([ToolchainMount].self, forKey: .libraries) ?? []
        runtimes = try container.decode([Runtime].self, forKey: .runtimes)
    }

    public func runtime(for language: String) throws -> Runtime {
        guard let runtime = runtimes.first(where: { $0.language == language }) else {
            throw ForgeError.unknownLanguage(language)
        }
        return runtime
    }

    /// Parses and checks a catalog: unique languages, absolute paths only,
    /// and nothing mounted over the box's own directories.
    public static func decode(_ data: Data) throws -> RuntimeCatalog {
        let catalog: RuntimeCatalog
        do {
            catalog = try JSONDecoder().decode(RuntimeCatalog.self, from: data)
        } catch {
            throw ForgeError.invalidCatalog("not a valid catalog document")
        }
        guard catalog.libraryPath.allSatisfy(isNormalAbsolute) else {
            throw ForgeError.invalidCatalog("every library_path entry must be an absolute path")
        }
        var seen = Set<String>()
        for runtime in catalog.runtimes {
            guard seen.insert(runtime.language).inserted else {
                throw ForgeError.invalidCatalog("language \(runtime.language) appears twice")
            }
            let stages = [runtime.run] + (runtime.compile.map { [$0] } ?? [])
            for mount in catalog.libraries + stages.flatMap(\.mounts) {
                guard mount.source.hasPrefix("/"), isNormalAbsolute(mount.destination), !isBoxOwn(mount.destination) else {
                    throw ForgeError.invalidCatalog("mount \(mount.destination) is not allowed")
                }
            }
            // Link inputs are names the linker resolves, never paths.
            let linkName = #/^(-l)?[A-Za-z0-9_+.-]{1,128}$/#
            let links = stages.flatMap { $0.link ?? [] }
            let named = links.allSatisfy { link in
                let name = link.hasPrefix("-l") ? link.dropFirst(2) : Substring(link)
                return link.wholeMatch(of: linkName) != nil && name.contains(where: { $0 != "." }) && !name.contains("..")
            }
            guard named else {
                throw ForgeError.invalidCatalog("\(runtime.language) has a link input that is not a library or file name")
            }
            guard stages.allSatisfy({ !$0.argv.isEmpty }) else {
                throw ForgeError.invalidCatalog("\(runtime.language) has an empty command")
            }
        }
        return catalog
    }

    /// `/a/b` with no empty, `.` or `..` component and no control
    /// character, so comparing prefixes compares places: `//box` and
    /// `/./box` are `/box`.
    static func isNormalAbsolute(_ path: String) -> Bool {
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return false }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard components.count >= 2, components[0].isEmpty else { return false }
        return components.dropFirst().allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    /// The box's own directories, where no toolchain may be mounted, and
    /// the files the engine itself places.
    static func isBoxOwn(_ path: String) -> Bool {
        ["/box", "/tmp", "/src", "/proc", "/dev", "/.talos", "/etc/hosts", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf"]
            .contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    /// The catalog shipped with Talos.
    public static func builtIn() throws -> RuntimeCatalog {
        guard let url = Bundle.module.url(forResource: "runtimes", withExtension: "json") else {
            throw ForgeError.invalidCatalog("the built-in catalog is missing from the installation")
        }
        return try decode(try Data(contentsOf: url))
    }

    /// An operator's catalog file.
    public static func load(path: String) throws -> RuntimeCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ForgeError.invalidCatalog("cannot read \(path)")
        }
        return try decode(data)
    }
}
