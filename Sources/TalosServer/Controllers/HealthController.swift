import Hummingbird
import TalosCore
import TalosStore

/// Liveness and readiness probes for load balancers and orchestrators.
struct HealthController {
    let database: TalosDatabase
    let migrator: Migrator
    let disk: DiskGuard

    struct Status: ResponseEncodable {
        let status: String
    }

    func register(on routes: DeclaredRoutes) {
        routes.on(.get, "/healthz", .anonymous) { _, _ in Status(status: "ok") }
        routes.on(.get, "/readyz", .anonymous) { _, _ -> Status in
            do {
                try await database.ping()
                guard try await migrator.isCurrent() else { throw Problem.serviceUnavailable }
            } catch {
                throw Problem(
                    status: .serviceUnavailable, type: "not-ready", title: "Not ready",
                    detail: "The database is unreachable or its schema is not current."
                )
            }
            if let shortage = disk.shortage() {
                throw Problem(
                    status: .serviceUnavailable, type: "low-disk", title: "Not ready: low on disk space",
                    detail: "\(shortage.freeBytes) bytes free on a Talos volume, under the floor of \(shortage.floorBytes) (storage.min_free_bytes)."
                )
            }
            return Status(status: "ready")
        }
    }
}
