import Crypto
import Engine
import Foundation
import Services
import Storage
import Hummingbird
import Synchronization

/// The request context: Hummingbird's core storage plus the caller's API key once authenticated.
public struct WinnowRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var key: APIKeyRecord?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.key = nil
    }

    /// The authenticated caller's key (every route but the open ones has one: `AuthMiddleware` sees to it).
    /// - Throws: 401 when there is none.
    public var caller: APIKeyRecord {
        get throws {
            guard let key else { throw APIError.unauthorized }
            return key
        }
    }

    /// The caller's key when its role is one of `roles` (admin may do everything).
    /// - Throws: 401 without a key, 403 with a key of another role.
    @discardableResult
    public func require(_ roles: [Role]) throws -> APIKeyRecord {
        let key = try caller
        guard key.role == .admin || roles.contains(key.role) else {
            throw APIError(.forbidden, code: "forbidden",
                           "The key '\(key.name)' has role \(key.role.rawValue); this needs \(roles.map(\.rawValue).joined(separator: " or ")).")
        }
        return key
    }
}

/// API keys: `wnw_` and 43 URL-safe base64 characters (32 random bytes). Only their SHA-256 is stored.
public enum APIKeys {
    /// A new random key.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let base64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "wnw_" + base64
    }

    /// Lower-case hex SHA-256 of the key.
    public static func hash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Creates a key called `name` with `role` in `store` and returns the secret (shown once, never stored).
    /// - Throws: `ValidationError` for a bad name; the store's error for a name in use.
    /// `tiers`: the review tiers a moderator's key may claim (tier 1 unless given).
    public static func create(name: String, role: Role, tiers: Set<ReviewTier> = [.one], feeds: Set<String>? = nil, in store: any Store,
                              at: Date = Date()) async throws -> String {
        guard (1...64).contains(name.utf8.count), name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@".contains($0) }) else {
            throw ValidationError(field: "name", "use 1-64 letters, digits, '-', '_', '.' or '@'")
        }
        guard !tiers.isEmpty else { throw ValidationError(field: "tiers", "name at least one tier: 1, 2 or 1,2") }
        if let feeds {
            guard role == .feed else { throw ValidationError(field: "feeds", "only a feed key works some feeds (moderators and admins see every feed)") }
            guard !feeds.isEmpty else { throw ValidationError(field: "feeds", "name at least one feed, or leave the option out for every feed") }
            if let bad = feeds.sorted().first(where: { !Policy.isValidFeed($0) }) {
                throw ValidationError(field: "feeds", PolicyError.invalidFeed(bad).description)
            }
        }
        let secret = generate()
        try await store.createKey(APIKeyRecord(name: name, role: role, hash: hash(secret), createdAt: at, tiers: tiers, feeds: feeds))
        return secret
    }
}

/// The roles a route group serves (admin may do everything): declared once on the group, checked before any handler.
struct RequireRole: RouterMiddleware {
    typealias Context = WinnowRequestContext
    let roles: [Role]

    init(_ roles: Role...) { self.roles = roles }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try context.require(roles)
        return try await next(request, context)
    }
}

/// Authenticates `Authorization: Bearer …` on every route but the open ones, caching lookups for a few seconds.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = WinnowRequestContext
    static let openPaths: Set<String> = ["/health", "/ready", "/openapi.yaml"]

    let store: any Store
    let cacheSeconds: Double
    let clock: @Sendable () -> Date
    private let cache = KeyCache()

    init(store: any Store, cacheSeconds: Double, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.cacheSeconds = cacheSeconds
        self.clock = clock
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization] else { throw APIError.unauthorized }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw APIError(.unauthorized, code: "unauthorized", "The Authorization header must be 'Bearer KEY'.")
        }
        let hash = APIKeys.hash(String(parts[1]))
        let store = self.store
        let key = try await cache.key(hash, now: clock(), cacheSeconds: cacheSeconds) { try await store.key(hash: hash) }
        guard let key, key.revokedAt == nil else {
            throw APIError(.unauthorized, code: "unauthorized", "This API key is unknown or revoked; ask an admin for a key ('winnow keys create').")
        }
        var context = context
        context.key = key
        return try await next(request, context)
    }
}

/// Recent key lookups by hash (a class: `Mutex` cannot live in a copyable struct).
final class KeyCache: Sendable {
    let entries = Mutex<[String: (key: APIKeyRecord?, until: Date)]>([:])

    /// The key of `hash`: as cached until `cacheSeconds` after its lookup, else as `fetch` finds it now. When the
    /// database is down, a key this node knew stays known (no revocation can be stored meanwhile): /metrics and the
    /// routes that need no database keep answering, and the rest answer 503 themselves (outside testing: /metrics went
    /// 503 five seconds into an outage, losing every series when they mattered most).
    func key(_ hash: String, now: Date, cacheSeconds: Double, fetch: () async throws -> APIKeyRecord?) async throws -> APIKeyRecord? {
        let cached = entries.withLock { $0[hash] }
        if let cached, cached.until > now { return cached.key }
        let key: APIKeyRecord?
        do {
            key = try await fetch()
        } catch let error as StoreError where error.isUnavailable {
            guard let cached else { throw error }
            key = cached.key
        }
        entries.withLock {
            if $0.count > 10_000 { $0.removeAll() }
            $0[hash] = (key, now.addingTimeInterval(cacheSeconds))
        }
        return key
    }
}
