import ArgumentParser
import Hummingbird
import Ledger
import Logging
import NIOCore
import TalosCore
import TalosServer
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTPS server (TLS 1.3 only, 127.0.0.1:8443 by default)."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to bind (default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (default 8443).")
    var port: Int?

    @Option(help: "Started as root, serve as this user when the data directory does not exist yet (default talos); otherwise as the data directory's owner.")
    var user: String = "talos"

    func run() async throws {
        try await reportingFailures {
            var settings = try await common.settings()
            try ServiceUser.dropIfRoot(dataDirectory: settings.dataDirectory, user: user)
            if let host { settings.host = host }
            if let port { settings.port = port }
            // The network-facing process never starts a box: `talos worker`
            // runs the queue, with the privileges that takes.
            settings.inProcessWorkers = false
            let logger = makeLogger(level: settings.logLevel)
            let host = settings.host
            let runtime = try await ServerRuntime.prepare(settings: settings, logger: logger)
            try await runtime.audit.record(
                AuditEvent(
                    actor: "system", action: "server.start", target: runtime.node, outcome: .success,
                    details: ["host": settings.host, "port": String(settings.port)]
                )
            )
            let dataDirectory = runtime.dataDirectory.path
            let application = try runtime.makeApplication(onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                FileHandleOutput.standardOutput(
                    """

                    Talos is listening on https://\(host):\(port) (TLS 1.3 only).
                    Data directory: \(dataDirectory) (keep it private; it holds the secrets).
                    Next:
                      talos admin create --email you@example.com --data-dir \(dataDirectory)
                                                                  creates the first super admin (prints a one-time token)
                      curl --cacert \(dataDirectory)/tls/dev-ca.pem https://localhost:\(port)/healthz
                      talos worker --data-dir \(dataDirectory)     runs queued code in sandboxes (as root; `make run` starts it)
                      talos doctor --data-dir \(dataDirectory)     checks this host can sandbox code
                      talos audit verify --data-dir \(dataDirectory)   checks the audit trail

                    """
                )
            })
            do {
                try await application.runService(gracefulShutdownSignals: [.sigterm, .sigint])
            } catch {
                await runtime.close()
                throw error
            }
            await runtime.close()
        }
    }
}
