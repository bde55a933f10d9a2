import Foundation
import Storage
import Logging
import ServiceLifecycle

/// Stage 3 inside `serve`: every `interval`, runs the rescores that are due and refreshes the review queue's stored
/// priorities that are due for it. Due times live in the database, so a restarted server picks up where the last
/// one stopped (and catches up on what came due while it was down).
public struct RescoreScheduler: Service {
    let service: ScoringService
    let interval: Duration
    let batch: Int
    let logger: Logger

    public init(service: ScoringService, interval: Duration, batch: Int, logger: Logger) {
        self.service = service
        self.interval = interval
        self.batch = batch
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await service.reloadEngagementModel()
                let ran = try await service.rescoreDue(batch: batch)
                if ran > 0 { logger.info("rescored due items", metadata: ["count": "\(ran)"]) }
            } catch is CancellationError {
                // The server is stopping (or failed to start): nothing to report.
            } catch {
                logger.error("rescoring failed; retrying next pass", metadata: ["error": "\(PostgresStore.describe(error))"])
            }
            do {
                try await ReviewService(scoring: service).refreshPriorities()
            } catch {
                logger.error("refreshing review priorities failed; retrying next pass", metadata: ["error": "\(PostgresStore.describe(error))"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
