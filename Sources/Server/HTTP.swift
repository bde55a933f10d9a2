import Engine
import Foundation
import WinnowJSON
import Storage
import Services
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization

/// An error answer: `{"error": {"code", "message", "field"}}` with its status.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = Self.sentence(message)
        self.field = field
    }

    /// Every message reads as a sentence: a first letter in upper case ("tier is 1 or 2" → "Tier is 1 or 2"), so
    /// messages from every layer look alike (issue 18). A message starting with a quote or a symbol is left as it is.
    /// The command line's errors read the same.
    public static func sentence(_ message: String) -> String {
        guard let first = message.first, first.isLowercase else { return message }
        return first.uppercased() + message.dropFirst()
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    struct Body: Codable {
        struct Detail: Codable {
            var code: String
            var message: String
            var field: String?
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSON.response(Body(error: .init(code: code, message: message, field: field)), status: status)
        // RFC 9110 §11.6.1: a 401 says which scheme would be accepted.
        if status == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="winnow""# }
        return response
    }

    /// A refused ticket operation: 404 for an unknown ticket, 409 for a lost lease, a stale version or a second
    /// decision.
    static func ticket(_ error: TicketError) -> APIError {
        switch error {
        case .notFound: return APIError(.notFound, code: "not_found", error.description)
        case .leaseLost: return APIError(.conflict, code: "lease_lost", error.description)
        case .versionMismatch: return APIError(.conflict, code: "version_mismatch", error.description, field: "version")
        case .alreadyDecided: return APIError(.conflict, code: "already_decided", error.description)
        case .cannotUndo, .nothingToUndo: return APIError(.conflict, code: "cannot_undo", error.description)
        }
    }

    static func validation(_ error: ValidationError) -> APIError {
        APIError(.unprocessableContent, code: error.tooLarge ? "too_large" : "invalid_value",
                 error.message, field: error.field)
    }

    static let unauthorized = APIError(.unauthorized, code: "unauthorized",
                                       "Send an API key as 'Authorization: Bearer KEY'; create one with 'winnow keys create --role feed --name NAME'.")
}

/// The API's JSON: ISO 8601 dates with milliseconds, sorted keys (stable output on every platform).
extension StrictDecoder {
    /// How the API reads JSON a person or a client wrote: request bodies, and the files the command line and the
    /// server read (the configuration, a policy), so that each names a mistake the same way.
    public static let api = StrictDecoder(parseDate: { ISOTime.parse($0) }, dateHint: "an ISO 8601 time such as 2026-11-26T09:30:00Z")
}

enum JSON {
    static let encoder = WireEncoder.make()

    /// A response written with `JSONWriter` (the hot paths).
    static func response(status: HTTPResponse.Status = .ok, capacity: Int = 1_024, _ write: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter(capacity: capacity)
        write(&w)
        let body = w.withBytes { ByteBuffer(bytes: $0) }
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        guard let data = try? encoder.encode(value) else {
            let failure = Data(#"{"error":{"code":"internal","message":"The server could not encode its answer."}}"#.utf8)
            return Response(status: .internalServerError, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: failure)))
        }
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Reads and decodes a request body of at most `limit` bytes.
    /// - Throws: `APIError` — 413 over the limit, 415 when it is not sent as JSON, 400 for malformed JSON, 422 naming
    ///   a missing, null, mistyped, repeated or unknown field.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        guard let value = try await decodeIfPresent(type, from: request, limit: limit) else {
            throw APIError(.badRequest, code: "malformed_json", "The request body is empty; send a JSON object.")
        }
        return value
    }

    /// Like `decode`, for routes whose body is optional: nil when the body is empty.
    static func decodeIfPresent<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T? {
        guard let buffer = try await body(of: request, limit: limit) else { return nil }
        try requireJSON(request.headers[.contentType])
        if let scannable = T.self as? any ScannableJSON.Type, let value = buffer.withUnsafeReadableBytes({ scannable.scan($0) }) as? T {
            return value
        }
        return try buffer.withUnsafeReadableBytes { try decode(type, from: $0) }
    }

    /// The request's body, nil when it is empty. A body's bytes past `BodyBudget.allowance` are held against the
    /// server's budget while they arrive.
    /// - Throws: 501 for a transfer coding other than chunked, 415 for a content coding other than identity (the
    ///   bytes would be read as if they were plain); 413 over `limit` bytes; 503 when the budget is spent.
    static func body(of request: Request, limit: Int) async throws -> ByteBuffer? {
        try refuseCodings(request.headers)
        // A declared length over the limit is refused before a byte is read (no point making the client send it).
        if let declared = declaredLength(request.headers), declared > limit { throw bodyTooLarge(limit: limit) }
        var buffer = ByteBuffer()
        var held = 0
        let budget = BodyBudget.current
        defer { budget.give(held) }
        for try await chunk in request.body {
            guard buffer.readableBytes + chunk.readableBytes <= limit else { throw bodyTooLarge(limit: limit) }
            let beyond = max(0, buffer.readableBytes + chunk.readableBytes - BodyBudget.allowance) - held
            if beyond > 0 {
                guard budget.take(beyond) else { throw APIError.bodyBudgetSpent }
                held += beyond
            }
            if buffer.readableBytes == 0 {
                buffer = chunk  // most bodies are one chunk: kept as it came, not copied
            } else {
                var chunk = chunk
                buffer.writeBuffer(&chunk)
            }
        }
        return buffer.readableBytes > 0 ? buffer : nil
    }

    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, code: "body_too_large", "The request body is over \(limit) bytes; send less (or split a batch).")
    }

    /// The body's length as its `Content-Length` declares it; nil without one (or with one NIO's parser would have
    /// refused).
    static func declaredLength(_ headers: HTTPFields) -> Int? {
        headers[.contentLength].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// The HTTP/1 parser takes a chunked body apart whatever codings come before `chunked` (`gzip, chunked`) and
    /// leaves `Content-Encoding` alone: the bytes it hands over are still compressed. Nothing here inflates them, so
    /// a body coded any other way is refused by name (RFC 9112 §6.1: 501 for a transfer coding; RFC 9110 §8.4: 415
    /// for a content coding) rather than parsed as JSON or stored as an image.
    static func refuseCodings(_ headers: HTTPFields) throws {
        func codings(_ name: HTTPField.Name) -> [String] { JSON.codings(headers[values: name]) }
        if let coding = codings(.transferEncoding).first(where: { $0 != "chunked" }) {
            throw APIError(.notImplemented, code: "unsupported_transfer_coding",
                           "The body is sent with the transfer coding '\(coding)', which this server does not decode; send it with 'Transfer-Encoding: chunked' alone, or with a Content-Length.",
                           field: "Transfer-Encoding")
        }
        if let coding = codings(.contentEncoding).first(where: { $0 != "identity" }) {
            throw APIError(.unsupportedMediaType, code: "unsupported_content_coding",
                           "The body is sent with the content coding '\(coding)', which this server does not decode; send it uncompressed, without Content-Encoding.",
                           field: "Content-Encoding")
        }
    }

    /// The codings a header's values list (`Transfer-Encoding: gzip, chunked`), lowercased, in order.
    static func codings(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
    }

    /// A JSON merge patch (RFC 7396) body: an object, sent as `application/merge-patch+json` (or `application/json`).
    /// - Throws: 413, 415, 400 for malformed JSON, 422 for a body that is not an object.
    static func mergePatch(from request: Request, limit: Int) async throws -> JSONValue {
        guard let buffer = try await body(of: request, limit: limit) else {
            throw APIError(.badRequest, code: "malformed_json", "The request body is empty; send a JSON merge patch (an object).")
        }
        try requireJSON(request.headers[.contentType], also: "application/merge-patch+json")
        let patch: JSONValue
        do {
            patch = try buffer.withUnsafeReadableBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) }
        } catch {
            throw apiError(error)
        }
        guard case .object = patch else {
            throw APIError(.unprocessableContent, code: "invalid_type", "A merge patch is a JSON object, not \(patch.kind): the members to set, null for those to remove.", field: "body")
        }
        return patch
    }

    /// Refuses a body not sent as JSON in UTF-8 (or as `also`): 415 naming what was sent.
    static func requireJSON(_ contentType: String?, also: String? = nil) throws {
        guard let contentType else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type",
                           "The body has no Content-Type; send it as JSON with 'Content-Type: application/json'.", field: "Content-Type")
        }
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let charset = parts.dropFirst().first { $0.hasPrefix("charset=") }.map { $0.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        guard parts.first == "application/json" || (also != nil && parts.first == also), charset == nil || charset == "utf-8" else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type",
                           "The body is sent as '\(contentType.prefix(100))'; send JSON in UTF-8 with 'Content-Type: application/json'.", field: "Content-Type")
        }
    }

    /// The strict reader of request bodies: unknown fields, nulls, repeated keys and numbers that do not fit are
    /// refused by name (`StrictDecoder`).
    static let strict = StrictDecoder.api

    static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws(APIError) -> T {
        do {
            return try strict.decode(type, from: bytes)
        } catch {
            throw apiError(error)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(APIError) -> T {
        do {
            return try strict.decode(type, from: value)
        } catch {
            throw apiError(error)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try data.withUnsafeBytes { try decode(type, from: $0) }
    }

    static func apiError(_ error: JSONError) -> APIError {
        let code = switch error.kind {
        case .malformed: "malformed_json"
        case .duplicateField: "duplicate_field"
        case .unknownField: "unknown_field"
        case .missingField: "missing_field"
        case .nullValue: "null_value"
        case .wrongType: "invalid_type"
        case .invalidValue: "invalid_value"
        }
        return APIError(error.kind == .malformed ? .badRequest : .unprocessableContent, code: code, error.message, field: error.field)
    }
}

/// Turns every error into the JSON error shape: Hummingbird's own (404, 405, 413), the API's, and anything
/// unexpected (500, logged, without internals).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The served routes, to tell an unknown path (404) from a known path asked with another method (405).
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            // One path per resource: the router skips empty segments, so "/v1/items/r1/", "/v1//items/r1" and
            // "//health" reached the same resource as the path without them (outside testing).
            // A fragment is the client's own (RFC 9112 §3.2: a request target has none); it was cut off and the
            // rest served (outside testing).
            if request.head.path?.utf8.contains(UInt8(ascii: "#")) == true {
                throw APIError(.badRequest, code: "malformed_request",
                               "The request target has a fragment ('#…'); a fragment stays with the client: send the path and query only (send '#' in an id or a value as %23).")
            }
            let path = request.uri.path
            if path.utf8.count > 1, path.utf8.last == UInt8(ascii: "/") || zip(path.utf8, path.utf8.dropFirst()).contains(where: { $0 == UInt8(ascii: "/") && $1 == $0 }) {
                throw APIError(.notFound, code: "not_found",
                               "No route \(request.method) \(path.prefix(200)): paths have no empty segments (a doubled or trailing '/'); see /openapi.yaml for the API.")
            }
            return try await next(request, context)
        } catch let error as APIError {
            var response = try error.response(from: request, context: context)
            if error.status == .serviceUnavailable, response.headers[HTTPField.Name("Retry-After")!] == nil {
                response.headers[HTTPField.Name("Retry-After")!] = "1"
            }
            return response
        } catch let error as HTTPError {
            if error.status == .notFound {
                let allowed = routes.methods(for: request.uri.path)
                if !allowed.isEmpty {
                    var response = JSON.response(APIError.Body(error: .init(
                        code: "method_not_allowed", message: "\(request.method) is not allowed on \(request.uri.path); use \(allowed.joined(separator: " or ")).",
                        field: nil)), status: .methodNotAllowed)
                    response.headers[.allow] = allowed.joined(separator: ", ")
                    return response
                }
            }
            let (code, message): (String, String) = switch error.status {
            case .notFound: ("not_found", "No route \(request.method) \(request.uri.path); see /openapi.yaml for the API.")
            case .methodNotAllowed: ("method_not_allowed", "\(request.method) is not allowed on \(request.uri.path).")
            case .contentTooLarge: ("body_too_large", "The request body is too large.")
            default: ("http_\(error.status.code)", APIError.sentence(error.body ?? error.status.reasonPhrase))
            }
            return JSON.response(APIError.Body(error: .init(code: code, message: message, field: nil)), status: error.status)
        } catch let error as ValidationError {
            return try APIError.validation(error).response(from: request, context: context)
        } catch let error as TicketError {
            return try APIError.ticket(error).response(from: request, context: context)
        } catch let error as ReviewAccessError {
            return try APIError(.forbidden, code: "forbidden", error.description, field: error.field).response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let code = error.status == .contentTooLarge ? "body_too_large" : "http_\(error.status.code)"
            return JSON.response(APIError.Body(error: .init(code: code, message: error.status.reasonPhrase, field: nil)), status: error.status)
        } catch let error as HTTPParserError {
            // The request's body broke HTTP/1.1 framing (a chunk size that is not hex, say): the client's fault.
            var response = JSON.response(APIError.Body(error: .init(
                code: "malformed_request", message: "The request is not valid HTTP/1.1 (\(error)); check its framing (Content-Length or chunked encoding).",
                field: nil)), status: .badRequest)
            response.headers[.connection] = "close"
            return response
        } catch let error as StoreError where error.isUnavailable {
            // PostgreSQL down or unreachable (`PostgresStore.watch`): said at once, not after a minute in the pool.
            var response = JSON.response(APIError.Body(error: .init(code: "unavailable", message: error.description, field: nil)),
                                         status: .serviceUnavailable)
            response.headers[HTTPField.Name("Retry-After")!] = "5"
            return response
        } catch where StoreError.isOutOfSpace(error) {
            context.logger.error("the disk is full", metadata: ["error": "\(PostgresStore.describe(error))", "path": "\(request.uri.path)"])
            var response = JSON.response(APIError.Body(error: .init(
                code: "insufficient_storage",
                message: "The server's disk is full, so nothing of this request was stored; retry later.",
                field: nil)), status: HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"))
            response.headers[HTTPField.Name("Retry-After")!] = "60"
            return response
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(PostgresStore.describe(error))", "path": "\(request.uri.path)"])
            return JSON.response(APIError.Body(error: .init(code: "internal", message: "The server failed to answer; the error is logged.", field: nil)),
                                 status: .internalServerError)
        }
    }
}

/// The routes a router serves, set once it is built (the error middleware is added before the routes).
final class RouteTable: Sendable {
    private let routes = Mutex<[RouteSpec]>([])

    func set(_ all: [RouteSpec]) { routes.withLock { $0 = all } }

    var all: [RouteSpec] { routes.withLock { $0 } }

    /// The routes whose path matches `path` (path parameters match any one segment).
    private func matching(_ path: String) -> [RouteSpec] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return all.filter { route in
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.count == segments.count && zip(pattern, segments).allSatisfy { p, s in
                (p.hasPrefix("{") && p.hasSuffix("}") && !s.isEmpty) || p == s
            }
        }
    }

    /// The methods served on `path`.
    func methods(for path: String) -> [String] {
        let methods = matching(path).map(\.method).sorted()
        // HEAD is answered wherever GET is (the router makes it from the GET).
        return methods.contains("GET") && !methods.contains("HEAD") ? (methods + ["HEAD"]).sorted() : methods
    }

    /// The served route `path` belongs to, as it is written (`/v1/items/{id}`), if any.
    func route(of path: String) -> String? { matching(path).first?.path }
}

/// The bytes of request bodies the server holds while they arrive, past each body's first `allowance` bytes: without
/// a bound, a hundred connections each sending all but the end of a 16 MiB body held 1.7 GB (outside testing; 1,024
/// connections could hold 16 GiB). Small requests never wait on it; a large body that finds it spent is a 503 to retry.
final class BodyBudget: Sendable {
    /// What every body may hold without the budget: 64 KiB (1,024 connections hold at most 64 MiB so).
    static let allowance = 64 << 10
    /// The budget of the server handling the request (`Middleware` sets it); outside one, none.
    @TaskLocal static var current = BodyBudget(capacity: .max)

    let capacity: Int
    private let state = Mutex(0)

    init(capacity: Int) { self.capacity = capacity }

    var used: Int { state.withLock { $0 } }

    /// Holds `bytes` if the budget has them.
    func take(_ bytes: Int) -> Bool {
        state.withLock { used in
            guard bytes <= capacity - used else { return false }
            used += bytes
            return true
        }
    }

    func give(_ bytes: Int) {
        guard bytes > 0 else { return }
        state.withLock { $0 = max(0, $0 - bytes) }
    }

    /// Puts the server's budget in force for the requests it handles.
    struct Middleware<Context: RequestContext>: RouterMiddleware {
        let budget: BodyBudget

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            try await BodyBudget.$current.withValue(budget) { try await next(request, context) }
        }
    }
}

extension APIError {
    static var bodyBudgetSpent: APIError {
        APIError(.serviceUnavailable, code: "busy",
                 "The server is receiving too many large request bodies at once; retry in a moment (small requests are not held back).")
    }
}
