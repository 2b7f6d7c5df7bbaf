public import Foundation

/// A read-only bind mount of host toolchain files into a box.
public struct ToolchainMount: Sendable, Codable, Equatable {
    public var source: String
    public var destination: String
    /// A single file rather than a directory.
    public var file: Bool?

    public init(source: String, destination: String, file: Bool? = nil) {
        self.source = source
        self.destination = destination
        self.file = file
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
    /// Shared libraries and the dynamic loader every dynamically linked box needs.
    public var libraries: [ToolchainMount]
    public var runtimes: [Runtime]

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
        var seen = Set<String>()
        for runtime in catalog.runtimes {
            guard seen.insert(runtime.language).inserted else {
                throw ForgeError.invalidCatalog("language \(runtime.language) appears twice")
            }
            let stages = [runtime.run] + (runtime.compile.map { [$0] } ?? [])
            for mount in catalog.libraries + stages.flatMap(\.mounts) {
                guard mount.source.hasPrefix("/"), mount.destination.hasPrefix("/"),
                    !mount.destination.split(separator: "/").contains(".."),
                    !["/box", "/tmp", "/src", "/proc", "/dev", "/.talos"].contains(where: {
                        mount.destination == $0 || mount.destination.hasPrefix($0 + "/")
                    })
                else {
                    throw ForgeError.invalidCatalog("mount \(mount.destination) is not allowed")
                }
            }
            guard stages.allSatisfy({ !$0.argv.isEmpty }) else {
                throw ForgeError.invalidCatalog("\(runtime.language) has an empty command")
            }
        }
        return catalog
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
