import Engine
import Foundation
import Storage
import Logging
import ServiceLifecycle

/// Keeps what a node holds in memory true when several nodes share one database: every `interval` it reads the
/// registry's promotion log and every feed's policy (two small reads) and takes over what another node changed: a
/// promotion or rollback (the model's file comes from the database) and a saved policy, and the retraining loop's shadow
/// (`ModelRegistry.followRetrainingShadow`). Revoked keys need nothing
/// here: a key lookup is cached for `keyCacheSeconds` only. The learned engagement model is reloaded by the
/// scheduler's passes.
public struct SharedStateSync: Service {
    let registry: ModelRegistry
    let interval: Duration
    let logger: Logger

    public init(registry: ModelRegistry, interval: Duration, logger: Logger) {
        self.registry = registry
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await syncOnce()
            } catch is CancellationError {
                // The server is stopping (or failed to start): nothing to report.
            } catch {
                logger.error("reading shared state failed; retrying next pass", metadata: ["error": "\(PostgresStore.describe(error))"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// One pass: returns the model version taken over, if the active model changed elsewhere.
    @discardableResult
    public func syncOnce() async throws -> String? {
        try await registry.scoring.reloadPolicies()
        let restored = try await registry.restoreActive()
        if let restored { logger.info("took over the active model from the registry", metadata: ["version": "\(restored)"]) }
        try await registry.followRetrainingShadow()
        try await registry.scoring.banks.sync()
        return restored
    }
}
