import ArgumentParser
import Citadel
import Foundation
import TalosCore
import TalosServer
import TalosStore

struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Manage super admins from the host.",
        subcommands: [Create.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a pending super admin and print a one-time enrollment token (valid 24 h)."
        )

        @OptionGroup var common: CommonOptions

        @Option(help: "The super admin's email address.")
        var email: String

        func run() async throws {
            try await reportingFailures {
                let settings = try await common.settings()
                let logger = makeLogger(level: "error")
                let context = try MaintenanceContext.open(settings: settings, logger: logger)
                let created: SuperAdminBootstrap.Created
                do {
                    try await Migrator(database: context.database, logger: logger).migrate()
                    created = try await SuperAdminBootstrap(
                        accounts: SQLAccountRepository(database: context.database),
                        audit: try context.auditLog(logger: logger),
                        maximumSuperAdmins: settings.maximumSuperAdmins
                    ).create(email: email)
                } catch {
                    await context.close()
                    throw error
                }
                await context.close()
                FileHandleOutput.standardOutput(
                    """
                    Created super admin \(created.account.email) (id \(created.account.id.uuidString.lowercased()), pending).
                    One-time enrollment token, shown only now, valid until \(created.expiresAt):

                      \(created.enrollmentToken.unsafeValue)

                    Hand it over privately. Its holder sets a password with
                    POST /v1/auth/accept-invitation {"token": "...", "password": "..."}
                    and must then enrol TOTP before anything else is allowed.

                    """
                )
            }
        }
    }
}
