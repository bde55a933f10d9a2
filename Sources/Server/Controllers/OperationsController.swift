import Foundation
import Hummingbird
import NIOCore
import Services
import Storage

/// What operators and clients ask of the server itself: liveness and readiness (open), the API's contract (open),
/// Prometheus metrics (an admin key, or a feed key of every feed).
struct OperationsController {
    let scoring: ScoringService

    func addRoutes(to router: Router<WinnowRequestContext>) {
        router.get("health", use: health)
        router.get("ready", use: ready)
        router.get("openapi.yaml", use: openAPI)
        // Not moderators: the decision counters move for a real ticket's decision and not for a gold one's, so a
        // reviewer watching them could tell gold tickets apart (outside testing).
        router.group().add(middleware: RequireRole(.feed, .admin))
            .get("metrics", use: metrics)
    }

    @Sendable func health(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        JSON.response(["status": "ok"])
    }

    @Sendable func ready(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        do {
            try await scoring.checkWritable()
        } catch {
            // The probe is open to anyone who can reach the port: the database's own words (host names, paths, roles)
            // go to the operator's log, not to the answer.
            context.logger.warning("readiness: the database is not writable", metadata: ["error": "\(PostgresStore.describe(error))"])
            return JSON.response(["status": "not ready", "reason": "the database is not writable (the server's log says why)"], status: .serviceUnavailable)
        }
        return JSON.response(["status": "ready", "model": scoring.model.version, "database": "writable"])
    }

    @Sendable func metrics(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        // The series cover every feed (their names, volumes and queues): not for a key kept to some of them.
        if let key = try? context.caller, key.role == .feed, let feeds = key.feeds {
            throw APIError(.forbidden, code: "forbidden",
                           "The key '\(key.name)' works feeds \(feeds.sorted().joined(separator: ", ")) only, and the metrics cover every feed. Scrape them with an admin key or a feed key made without --feeds.")
        }
        try? await scoring.updateSchedulerGauges()
        let databaseUp: Bool
        do { try await scoring.checkWritable(); databaseUp = true } catch { databaseUp = false }
        scoring.metrics.health(databaseUp: databaseUp, process: .read())
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(string: scoring.metrics.render())))
    }

    /// The API's contract, public (as /health and /ready): what a client may send and will get back is no secret.
    @Sendable func openAPI(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
    }
}
