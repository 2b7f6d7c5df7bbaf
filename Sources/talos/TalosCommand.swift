import ArgumentParser

@main
struct TalosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "talos",
        abstract: "Identity, sandboxed code execution, encrypted files and an audit trail in one server.",
        subcommands: [ServeCommand.self, MigrateCommand.self, AdminCommand.self, AuditCommand.self, DoctorCommand.self, RunCommand.self, SandboxBenchCommand.self, WorkerCommand.self]
    )
}
