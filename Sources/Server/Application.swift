import Engine
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
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
            } catch {
                logger.error("rescoring failed; retrying next pass", metadata: ["error": "\(error)"])
            }
            do {
                try await ReviewService(scoring: service).refreshPriorities()
            } catch {
                logger.error("refreshing review priorities failed; retrying next pass", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}

public enum WinnowServer {
    /// Sends swift-metrics (from any library) into one Prometheus registry and returns Winnow's metrics over it.
    /// Call once per process, from `serve`.
    public static func bootstrapMetrics() -> ServerMetrics {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return ServerMetrics(registry: registry)
    }

    /// The server: the API on `configuration.host:port` and the rescoring scheduler, shut down gracefully on
    /// SIGTERM or SIGINT (in-flight requests finish). `onRunning` gets the bound port (useful with port 0).
    public static func application(service: ScoringService, configuration: ServerConfiguration, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let (router, _) = Routes(service: service, configuration: configuration).router()
        let scheduler = RescoreScheduler(service: service, interval: .milliseconds(Int64(configuration.schedulerIntervalSeconds * 1000)),
                                         batch: configuration.schedulerBatch, logger: logger)
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "winnow"),
            services: [scheduler],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }
}
