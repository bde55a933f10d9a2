import Foundation
import Hummingbird
import WinnowJSON

extension OpenAPIDocument {
    /// Each operation's query parameters as the document declares them (inline, or by `$ref` to
    /// `components/parameters`), keyed by method (lower case) and path: what `StrictRequestMiddleware` lets through. Its
    /// keys are every operation the document has (a test checks them against the routes served). Read from the
    /// document as it is written (two-space indentation; one parameter a list entry).
    public static let queryParameters: [RouteSpec: Set<String>] = parseQueryParameters(yaml)

    static func parseQueryParameters(_ yaml: String) -> [RouteSpec: Set<String>] {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // components/parameters: name → (name, in)
        var shared: [String: (name: String, location: String)] = [:]
        if let start = lines.firstIndex(of: "components:"), let section = lines[start...].firstIndex(of: "  parameters:") {
            var key: String?, name: String?, location: String?
            func flush() {
                if let key, let name, let location { shared[key] = (name, location) }
            }
            for line in lines[(section + 1)...] {
                if !line.hasPrefix("    ") && !line.isEmpty { break }
                if line.hasPrefix("    ") && !line.hasPrefix("     ") {
                    flush()
                    key = String(line.dropFirst(4).dropLast())
                    name = nil
                    location = nil
                } else if let value = Self.value(line, "      name:") {
                    name = value
                } else if let value = Self.value(line, "      in:") {
                    location = value
                }
            }
            flush()
        }
        var table: [RouteSpec: Set<String>] = [:]
        guard let start = lines.firstIndex(of: "paths:") else { return table }
        var path: String?, method: String?, inParameters = false, pendingName: String?
        for line in lines[(start + 1)...] {
            if !line.hasPrefix(" ") && !line.isEmpty { break }
            if line.hasPrefix("  /") && !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
                method = nil
                inParameters = false
            } else if line.hasPrefix("    ") && !line.hasPrefix("     ") && line.hasSuffix(":") {
                // An operation, or a member of the path itself (its own parameters, a summary): not one.
                let key = String(line.dropFirst(4).dropLast())
                method = Self.methods.contains(key) ? key : nil
                inParameters = false
                if let path, let method { table[RouteSpec(method: method, path: path), default: []] = [] }
            } else if line == "      parameters:" {
                inParameters = true
            } else if inParameters, line.hasPrefix("      ") && !line.hasPrefix("       ") {
                inParameters = false
            } else if inParameters, let path, let method {
                let route = RouteSpec(method: method, path: path)
                if line.hasPrefix("        - {$ref: \"#/components/parameters/"), let key = line.split(separator: "/").last?.split(separator: "\"").first,
                   let parameter = shared[String(key)], parameter.location == "query" {
                    table[route, default: []].insert(parameter.name)
                } else if line.hasPrefix("        - {name: ") {
                    // Flow style: `- {name: after, in: query, ...}`.
                    let fields = line.dropFirst("        - {".count).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    if let name = fields.first(where: { $0.hasPrefix("name: ") })?.dropFirst(6), fields.contains("in: query") {
                        table[route, default: []].insert(String(name))
                    }
                } else if let value = Self.value(line, "        - name:") {
                    pendingName = value
                } else if let value = Self.value(line, "          in:") {
                    if value == "query", let name = pendingName { table[route, default: []].insert(name) }
                    pendingName = nil
                }
            }
        }
        return table
    }

    /// The operations whose document declares a request body: every other operation takes none.
    public static let operationsWithBodies: Set<RouteSpec> = parseOperationsWithBodies(yaml)

    static func parseOperationsWithBodies(_ yaml: String) -> Set<RouteSpec> {
        var found = Set<RouteSpec>(), path: String?, method: String?
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "paths:") else { return found }
        for line in lines[(start + 1)...] {
            if !line.hasPrefix(" ") && !line.isEmpty { break }
            if line.hasPrefix("  /") && !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
                method = nil
            } else if line.hasPrefix("    ") && !line.hasPrefix("     ") && line.hasSuffix(":") {
                let key = String(line.dropFirst(4).dropLast())
                method = Self.methods.contains(key) ? key : nil
            } else if line == "      requestBody:", let path, let method {
                found.insert(RouteSpec(method: method, path: path))
            }
        }
        return found
    }

    static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]

    private static func value(_ line: String, _ prefix: String) -> String? {
        guard line.hasPrefix(prefix) else { return nil }
        return line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
    }
}

/// Holds every request to what its operation in the document takes, on every route, by the document's own lists:
/// - a query parameter the operation does not take is refused (naming the nearest it does), and one given twice:
///   `POST /v1/items?feed=news` stored the item in feed "default" (the route reads the body's feed), `?fed=news` read
///   the default feed, `?teir=2` the tier-1 queue;
/// - a POST without a request body in the document (renew, undo, withdraw, promote…) refuses one, where it was read by
///   no one (outside testing: `{"version": 3}` sent to renew looked checked and was not). An empty body, or `{}` as
///   HTTP clients send by habit, is no body. A body on GET or DELETE has no meaning in HTTP and is left unread.
struct StrictRequestMiddleware<Context: RequestContext>: RouterMiddleware {
    let parameters: [RouteSpec: Set<String>]
    /// The paths of the POST operations that take no body.
    let bodilessPosts: Set<String>
    /// What a body the route does not take is read up to (the limit `ServerConfiguration.bodyLimit` holds a 100 to).
    let maxBodyBytes: Int

    init(parameters: [RouteSpec: Set<String>], bodies: Set<RouteSpec>, maxBodyBytes: Int) {
        self.parameters = parameters
        self.bodilessPosts = Set(parameters.keys.filter { $0.method == "post" && !bodies.contains($0) }.map(\.path))
        self.maxBodyBytes = maxBodyBytes
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Most requests have no query, and a body only where their operation takes one: passed on after a look at
        // each (this runs on every request).
        let hasQuery = request.uri.query.map { !$0.isEmpty } ?? false
        let postWithBody = request.method == .post && (JSON.declaredLength(request.headers).map { $0 > 0 } ?? request.headers.contains(.transferEncoding))
        guard hasQuery || postWithBody, let path = context.endpointPath else { return try await next(request, context) }
        if postWithBody, bodilessPosts.contains(path), let body = try await JSON.body(of: request, limit: maxBodyBytes) {
            // JSON's own white space only (a no-break space inside the braces is not `{}`).
            let meaningful = body.readableBytesView.filter { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            guard meaningful.isEmpty || meaningful == [UInt8(ascii: "{"), UInt8(ascii: "}")] else {
                throw APIError(.unprocessableContent, code: "invalid_value", "\(request.method) \(path) takes no body; send none.", field: "body")
            }
        }
        let pairs = try Query.pairs(request)
        guard !pairs.isEmpty else { return try await next(request, context) }
        let method = request.method == .head ? "get" : request.method.rawValue.lowercased()
        // A route the document does not know (none in a released build; a test checks) is not judged here.
        guard let names = parameters[RouteSpec(method: method, path: path)] else { return try await next(request, context) }
        var seen = Set<String>()
        for (name, _) in pairs {
            guard names.contains(name) else {
                let known = names.sorted()
                let hint = known.isEmpty ? "; this route takes none."
                    : StrictDecoder.nearest(name, among: known).map { "; did you mean '\($0)'?" } ?? "; it takes \(known.joined(separator: ", "))."
                throw APIError(.unprocessableContent, code: "unknown_field", "'\(name.prefix(64))' is not a query parameter of \(request.method) \(path)\(hint)",
                               field: String(name.prefix(64)))
            }
            guard seen.insert(name).inserted else {
                throw APIError(.unprocessableContent, code: "duplicate_field", "'\(name)' is given twice; give each query parameter once.", field: name)
            }
        }
        return try await next(request, context)
    }
}
