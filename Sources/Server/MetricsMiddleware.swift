import Foundation
import Hummingbird
import Services

/// Records every request's method, matched route (not the raw path, so ids do not explode the label set),
/// status and latency.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    /// The served routes: a method a path is not served with (405) is counted under the path's route.
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        // The router names a request no route took "NotFound" (a 405 too): the path's route for a 405, else unmatched.
        let matched = context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 }
        let route = matched ?? (response.status == .methodNotAllowed ? routes.route(of: request.uri.path) : nil) ?? "unmatched"
        metrics.request(method: request.method.rawValue, route: route, status: response.status.code, duration: ContinuousClock.now - start)
        return response
    }
}
