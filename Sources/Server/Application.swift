import Engine
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Services

public enum WinnowServer {
    /// Sends swift-metrics (from any library) into one Prometheus registry and returns Winnow's metrics over it.
    /// Call once per process, from `serve`.
    public static func bootstrapMetrics() -> ServerMetrics {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return ServerMetrics(registry: registry)
    }

    /// The server: the API on `configuration.host:port`, the rescoring scheduler and the shared-state sync (what other
    /// nodes on the same database changed), shut down gracefully on
    /// SIGTERM or SIGINT (in-flight requests finish). `onRunning` gets the bound port (useful with port 0).
    public static func application(service: ScoringService, configuration: ServerConfiguration, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let (router, _) = Routes(service: service, configuration: configuration).router()
        let scheduler = RescoreScheduler(service: service, interval: .milliseconds(Int64(configuration.schedulerIntervalSeconds * 1000)),
                                         batch: configuration.schedulerBatch, logger: logger)
        let sync = SharedStateSync(registry: ModelRegistry(scoring: service, directory: configuration.registry),
                                   interval: .milliseconds(Int64(configuration.syncIntervalSeconds * 1000)), logger: logger)
        return application(router: router, configuration: configuration, services: [scheduler, sync], logger: logger, onRunning: onRunning)
    }

    /// The HTTP server around `router` with the configured address and connection limits (time limits on heads and
    /// bodies, most open connections): what `serve` runs, and what the tests run live.
    public static func application(router: Router<WinnowRequestContext>, configuration: ServerConfiguration, services: [any Service] = [],
                                   logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> Application<RouterResponder<WinnowRequestContext>> {
        Application(
            router: router,
            server: configuration.httpServer,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "winnow",
                                 availableConnectionsDelegate: .maximum(configuration.maxConnections, logger: logger)),
            services: services,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }
}
