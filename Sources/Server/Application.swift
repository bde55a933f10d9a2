import Engine
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Services
import Storage

/// One route of the API, as served and as documented in `/openapi.yaml`.
public struct RouteSpec: Hashable, Sendable, CustomStringConvertible {
    public var method: String
    /// OpenAPI style: `/v1/items/{id}`.
    public var path: String
    public var description: String { "\(method) \(path)" }
}

/// The services one node's HTTP layer calls; the handlers reach nothing else.
public struct WinnowServices: Sendable {
    public let scoring: ScoringService
    public let review: ReviewService
    public let labels: LabelService
    public let registry: ModelRegistry
    public let changes: ChangesFeed
    public let webhooks: WebhookService
    public let retrainer: Retrainer

    /// The services over `scoring` as `configuration` sets them up (the registry's folder, online learning, the events'
    /// settings); webhook requests (a test message) go through `transport`.
    public init(scoring: ScoringService, configuration: ServerConfiguration, transport: any WebhookTransport, node: NodeName = .current(port: 0),
                resolve: @escaping @Sendable (String) async -> [[UInt8]]? = { await WebhookService.addresses(of: $0, timeoutSeconds: 5) }) {
        let registry = ModelRegistry(scoring: scoring, directory: configuration.registry)
        let labels = LabelService(scoring: scoring, learner: configuration.onlineLearning ? OnlineLearner(registry: registry) : nil)
        self.scoring = scoring
        self.registry = registry
        self.labels = labels
        self.review = ReviewService(scoring: scoring, labels: labels)
        self.changes = ChangesFeed(scoring: scoring, configuration: configuration.events)
        self.webhooks = WebhookService(scoring: scoring, transport: transport, configuration: configuration.events, resolve: resolve)
        self.retrainer = Retrainer(registry: registry, configuration: configuration.retrain, node: node)
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

    /// The API: every controller's routes behind the middleware every request passes (metrics, the JSON error shape,
    /// API keys); each controller declares on its route groups the roles they serve. `routes` lists what is served
    /// (a test checks it against the OpenAPI document).
    public static func buildRouter(_ services: WinnowServices, configuration: ServerConfiguration)
        -> (router: Router<WinnowRequestContext>, routes: [RouteSpec]) {
        // HEAD wherever GET is served (RFC 9110 §9.3.2): the GET's headers without its body.
        let router = Router(context: WinnowRequestContext.self, options: .autoGenerateHeadEndpoints)
        let table = RouteTable()
        let scoring = services.scoring
        router.add(middleware: MetricsMiddleware(metrics: scoring.metrics, routes: table))
        router.add(middleware: ErrorMiddleware(routes: table))
        router.add(middleware: BodyBudget.Middleware(budget: BodyBudget(capacity: configuration.maxBodyBytesInFlight)))
        router.add(middleware: AuthMiddleware(store: scoring.store, cacheSeconds: configuration.keyCacheSeconds, clock: scoring.clock))
        router.add(middleware: StrictRequestMiddleware(parameters: OpenAPIDocument.queryParameters, bodies: OpenAPIDocument.operationsWithBodies,
                                                       maxBodyBytes: configuration.maxBodyBytes))
        OperationsController(scoring: scoring).addRoutes(to: router)
        ItemController(scoring: scoring, review: services.review, limits: configuration).addRoutes(to: router)
        ReviewController(review: services.review, limits: configuration).addRoutes(to: router)
        LabelController(labels: services.labels, limits: configuration).addRoutes(to: router)
        ModelController(registry: services.registry, retrainer: services.retrainer).addRoutes(to: router)
        PolicyController(scoring: scoring, limits: configuration).addRoutes(to: router)
        EventController(changes: services.changes, webhooks: services.webhooks, limits: configuration).addRoutes(to: router)
        BankController(banks: services.scoring.banks, scoring: services.scoring, limits: configuration).addRoutes(to: router)
        let routes = router.routes.map { RouteSpec(method: $0.method.rawValue, path: $0.path.description) }
        table.set(routes)
        return (router, routes)
    }

    /// The server: the API on `configuration.host:port`, the rescoring scheduler, the shared-state sync (what other
    /// nodes on the same database changed) and the webhook deliverer, shut down gracefully on SIGTERM or SIGINT
    /// (in-flight requests and deliveries finish). `onRunning` gets the bound port (useful with port 0).
    public static func buildApplication(service: ScoringService, configuration: ServerConfiguration, logger: Logger,
                                        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let client = WebhookClient(readTimeoutSeconds: configuration.events.timeoutSeconds)
        // One name for this process's leases; its host:port identity lets a restarted node take back its own.
        let node = NodeName.current(port: configuration.port)
        let services = WinnowServices(scoring: service, configuration: configuration, transport: client, node: node)
        let (router, _) = buildRouter(services, configuration: configuration)
        let scheduler = RescoreScheduler(service: service, interval: .milliseconds(Int64(configuration.schedulerIntervalSeconds * 1000)),
                                         batch: configuration.schedulerBatch, logger: logger)
        let sync = SharedStateSync(registry: services.registry, interval: .milliseconds(Int64(configuration.syncIntervalSeconds * 1000)), logger: logger)
        let deliverer = WebhookDeliverer(scoring: service, transport: client, configuration: configuration.events, node: node,
                                         logger: logger)
        // Services stop in reverse order: the deliverer before the client it sends through.
        var background: [any Service] = [client, scheduler, sync, deliverer] + (configuration.retrain.enabled ? [services.retrainer] : [])
        if let postgres = service.store as? PostgresStore { background.append(DatabaseWatch(store: postgres, logger: logger)) }
        return buildApplication(router: router, configuration: configuration, services: background, logger: logger, onRunning: onRunning)
    }

    /// The HTTP server around `router` with the configured address and connection limits (time limits on heads and
    /// bodies, most open connections): what `serve` runs, and what the tests run live.
    public static func buildApplication(router: Router<WinnowRequestContext>, configuration: ServerConfiguration, services: [any Service] = [],
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

/// `PostgresStore.watch` as a service of `serve`: while PostgreSQL does not answer, requests are refused with 503 at
/// once and `/ready` says so within seconds (the pool alone kept them waiting about a minute, then answered 500).
struct DatabaseWatch: Service {
    let store: PostgresStore
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await store.watch(logger: logger) }
    }
}
