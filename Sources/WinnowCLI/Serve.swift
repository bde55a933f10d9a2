import ArgumentParser
import Engine
import Foundation
import Logging
import NIOCore
import Server
import Services
import Storage
import Synchronization

/// `serve`'s options: where to listen, then the server's data and settings (`StoreOptions`).
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on (WINNOW_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (WINNOW_PORT; default 8080; 0 picks a free one).")
    var port: Int?

    @OptionGroup var store: StoreOptions

    func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServerConfiguration {
        try store.load(environment: environment, host: host, port: port)
    }

    func service(_ configuration: ServerConfiguration, metrics: ServerMetrics = ServerMetrics(), createDatabase: Bool = true) async throws -> ScoringService {
        try await store.service(configuration, metrics: metrics, createDatabase: createDatabase)
    }
}

/// Where a server's data and settings come from, for `serve` and the commands that work on its data (`rescore`,
/// `retrain`, which listen nowhere): flags here, then `WINNOW_…` variables, then `--config FILE`, then the defaults
/// (see `ServerConfiguration`).
struct StoreOptions: ParsableArguments {
    @Option(help: "SQLite file, or postgres://user:password@host:port/db for PostgreSQL (WINNOW_DATABASE; default ./winnow.sqlite).")
    var database: String?

    @Option(help: "Text model file (WINNOW_MODEL; default models/default.winnow).")
    var model: String?

    @Option(help: "JSON configuration file (WINNOW_CONFIG); see README, Configuration.")
    var config: String?

    func load(environment: [String: String] = ProcessInfo.processInfo.environment, host: String? = nil, port: Int? = nil) throws -> ServerConfiguration {
        do {
            return try ServerConfiguration.load(file: config ?? environment["WINNOW_CONFIG"], environment: environment) { c in
                if let host { c.host = host }
                if let port { c.port = port }
                if let database { c.database = database }
                if let model { c.model = model }
            }
        } catch let error as ConfigurationError {
            // A configuration file or variable the command cannot use: an input, as a data file is (65).
            throw CommandError.data(error.description)
        }
    }

    /// Opens the store and the model and prepares the scoring service. `createDatabase`: a missing SQLite file is
    /// made (`serve`'s first start); commands that work on a server's data (rescore, retrain) refuse it instead, so
    /// that a misspelt --database does not quietly work on a new, empty one.
    func service(_ configuration: ServerConfiguration, metrics: ServerMetrics = ServerMetrics(), createDatabase: Bool = true) async throws -> ScoringService {
        let store = try await Keys.DatabaseOption.open(path: configuration.database, create: createDatabase, poolSize: configuration.databasePoolSize)
        // A database these commands cannot write (a user with SELECT only, a read-only file) would serve nothing but
        // errors behind "listening": said at the start instead.
        do { try await store.checkWritable() } catch {
            throw CommandError("The database at \(PostgresStore.redacted(url: configuration.database)) cannot be written (\(PostgresStore.describe(error))). Give its user the right to insert, "
                               + "update and delete in Winnow's tables, or point --database at a writable one.")
        }
        let model: ActiveModel
        do {
            model = try ActiveModel(path: configuration.model)
        } catch {
            // A node of a cluster need not carry the file: when the database's registry has an active version (kept
            // in the database), that is what the node would serve anyway, so it starts on it.
            guard let active = try? await ModelRegistry.active(in: store) else {
                // An input the command cannot use (65), as README's exit codes have a model file.
                throw CommandError.data("\(error)")
            }
            model = try ActiveModel(model: active, source: "the registry")
            FileHandle.standardError.write(Data("The model file \(configuration.model) cannot be read (\(error)); starting on the registry's active model \(active.header.modelVersion).\n".utf8))
        }
        // Configuration the model cannot serve: an input, as the file's other mistakes are (65).
        guard model.classes.contains(configuration.engine.clearLabel) else {
            throw CommandError.data("The model \(configuration.model) has no class '\(configuration.engine.clearLabel)' (its classes: \(model.classes.joined(separator: ", "))). Set engine.clearLabel in the configuration file to the class that means 'nothing wrong'.")
        }
        do { try configuration.checkClassNames(model.classes) } catch let error as ConfigurationError { throw CommandError.data(error.description) }
        let service = ScoringService(store: store, engine: ScoringEngine(configuration: configuration.engine), model: model, metrics: metrics)
        try await service.start()
        // A model promoted through the registry stays active across restarts.
        do {
            if let restored = try await ModelRegistry(scoring: service, directory: configuration.registry).startServing() {
                FileHandle.standardError.write(Data("Using the registry's active model \(restored) (promoted earlier) instead of \(configuration.model).\n".utf8))
            }
        } catch let error as ConfigurationError {
            throw CommandError(error.description)
        } catch where StoreError.isOutOfSpace(error) {
            // Outside testing: a full disk at the first start was reported as a model to roll back.
            throw CommandError("The disk holding the database \(PostgresStore.redacted(url: configuration.database)) is full (\(PostgresStore.describe(error))); free some space and start again.")
        } catch {
            throw CommandError("The registry's active model cannot be loaded (\(PostgresStore.describe(error))). Roll back with 'winnow models rollback', or restore the file.")
        }
        return service
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the scoring API (HTTP JSON) and the rescoring scheduler.",
        discussion: """
            Items are scored at creation (POST /v1/items), on early engagement (POST /v1/items/ID/engagement) and at \
            the configured ages by the scheduler inside this process. State lives in one SQLite file, or in PostgreSQL \
            (--database postgres://…), which any number of nodes can share. On first start \
            (no admin key in the database) an admin key is created and printed once, with a curl to try. \
            SIGTERM or Ctrl-C stops gracefully: requests in flight finish.

            Examples:
              winnow serve
              winnow serve --port 9000 --database /var/lib/winnow/winnow.sqlite
              WINNOW_PORT=9000 winnow serve --config winnow.json
            """)

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = try options.load()
        // A host nothing can listen on is said before anything starts (outside testing: --host 999.1.1.1 started the
        // services, logged their cancellation and printed NIO's raw `SocketAddressError.UnknownHost`).
        do {
            _ = try SocketAddress.makeAddressResolvingHost(configuration.host, port: configuration.port)
        } catch {
            throw CommandError.data("Cannot listen on \(configuration.host): it is neither an IP address nor a host name this machine resolves. Pass --host (or WINNOW_HOST, host in the configuration) with an address such as 127.0.0.1, or 0.0.0.0 for all.")
        }
        if configuration.retrain.enabled {
            do { try configuration.retrain.checkFiles() } catch let error as ConfigurationError { throw CommandError.data(error.description) }
        }
        let metrics = WinnowServer.bootstrapMetrics()
        let service = try await options.service(configuration, metrics: metrics)
        let keys = try await service.store.keys()
        var firstKey: (name: String, secret: String)?
        if !keys.contains(where: { $0.role == .admin && $0.revokedAt == nil }) {
            let name = keys.contains { $0.name == "admin" } ? "admin-\(Int(Date().timeIntervalSince1970))" : "admin"
            firstKey = (name, try await APIKeys.create(name: name, role: .admin, in: service.store))
        }
        let banner = firstKey?.secret
        // Whether the banner (with the first admin key) was printed: a start that fails before it revokes the key it
        // made, so the next start makes and prints another (outside testing: a port in use kept a key nobody saw).
        let shown = Mutex(false)
        var logger = Logger(label: "winnow")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let host = configuration.host
        // The database as a message may show it: a PostgreSQL URL without its password (this goes to logs).
        let database = PostgresStore.redacted(url: configuration.database)
        let app = WinnowServer.buildApplication(service: service, configuration: configuration, logger: logger) { port in
            var lines = ["Winnow is listening on http://\(host):\(port) (model \(service.model.version), database \(database))"]
            if let banner {
                lines += [
                    "",
                    "First start: created the admin API key (shown once; it is stored only as a hash):",
                    "",
                    "  \(banner)",
                    "",
                    "Score an example item:",
                    "",
                    "  curl -s http://\(host):\(port)/v1/items -H 'Authorization: Bearer \(banner)' -H 'Content-Type: application/json' \\",
                    "    -d '{\"id\": \"example-1\", \"feed\": \"default\", \"text\": \"WINNER!! Claim your FREE prize now, call 09061701461\"}'",
                    "",
                    "Keys for feed services: winnow keys create --role feed --name NAME --database \(database)"
                        + (PostgresStore.isURL(configuration.database) ? " (the URL with its password)" : ""),
                ]
            }
            // Unbuffered, so a supervisor or a pipe sees it at once.
            FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            shown.withLock { $0 = true }
        }
        do {
            do {
                try await app.runService()
            } catch {
                if let firstKey, !shown.withLock({ $0 }) { _ = try? await service.store.revokeKey(name: firstKey.name, at: Date()) }
                throw error
            }
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw CommandError("Port \(configuration.port) on \(host) is in use by another process: stop it, or pass --port with a free port (0 picks one).")
        } catch let error as IOError where error.errnoCode == EACCES {
            throw CommandError("This user may not listen on port \(configuration.port) on \(host): pass --port with a port above 1023.")
        } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL {
            throw CommandError.data("\(host) is not an address of this machine, so nothing can listen there: pass --host with one of its addresses (127.0.0.1, or 0.0.0.0 for all).")
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys.",
        discussion: """
            Keys have a role: feed (submit, engage, rank), moderator (review), admin (everything). A key is printed \
            once when created; the database keeps only its SHA-256.

            Examples:
              winnow keys create --role feed --name news-feed
              winnow keys list
              winnow keys revoke news-feed
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct DatabaseOption: ParsableArguments {
        @Option(help: "SQLite file, or postgres://user:password@host:port/db (WINNOW_DATABASE; default ./winnow.sqlite).")
        var database: String?

        var path: String { database ?? ProcessInfo.processInfo.environment["WINNOW_DATABASE"] ?? "winnow.sqlite" }

        /// Opens the database; `create` allows a new file (a key made before the first `serve`), and says so.
        func open(create: Bool = false) async throws -> any Store {
            try await Self.open(path: path, create: create)
        }

        /// Opens the database `path` names: a PostgreSQL URL (`postgres://…`, with a pool of `poolSize` connections),
        /// or an SQLite file, refusing a missing file unless `create` (every command that reads the server's database
        /// opens it here).
        static func open(path: String, create: Bool = false, poolSize: Int = 4) async throws -> any Store {
            guard !path.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw CommandError.data("No database given: --database or WINNOW_DATABASE is empty; give an SQLite file or a postgres:// URL.")
            }
            if PostgresStore.isURL(path) {
                do {
                    return try await PostgresStore.connect(url: path, poolSize: poolSize, create: create)
                } catch {
                    throw CommandError("\(error)")
                }
            }
            let exists = FileManager.default.fileExists(atPath: path)
            guard exists || create else {
                throw CommandError("No database at \(path); pass --database PATH (the file 'winnow serve' uses) or set WINNOW_DATABASE.")
            }
            do {
                let store = try SQLiteStore(path: path)
                if !exists { FileHandle.standardError.write(Data("Created a new database at \(path).\n".utf8)) }
                return store
            } catch {
                throw CommandError("\(error)")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print it once.",
            discussion: """
              Only the key's SHA-256 is stored: copy the printed key now. A feed key works the feeds --feeds names \
              (every feed without it): give each feed service a key of its own feeds, so that it can neither read nor \
              change another's items; a request that names no feed is about the key's feed when it has one. A \
              moderator's key works tier 1 unless --tiers says otherwise; tier 2 (escalations, appeals) is for senior \
              reviewers, and nobody decides there an item they judged before.

              Examples:
                winnow keys create --role feed --feeds news --name news-feed
                winnow keys create --role feed --feeds news,photos --name media-team
                winnow keys create --role moderator --name alice
                winnow keys create --role moderator --tiers 1,2 --name senior-bob
                winnow keys create --role admin --name ops --database postgres://db/winnow
              """)
        @Option(help: "feed, moderator or admin.") var role: Role
        @Option(help: "A unique name (1-64 letters, digits, - _ . @), recorded with everything the key does.") var name: String
        @Option(help: "The review tiers a moderator's key may claim: 1, 2 or 1,2.") var tiers: String = "1"
        @Option(help: "The feeds a feed key may act on, comma-separated (default: every feed).") var feeds: String?
        @OptionGroup var database: DatabaseOption

        func validate() throws {
            _ = try parsedTiers()
            if feeds != nil, role != .feed {
                throw ValidationError("--feeds is for feed keys (moderators and admins see every feed); drop it or use --role feed.")
            }
        }

        /// nil: every feed.
        func parsedFeeds() -> Set<String>? {
            feeds.map { Set($0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }) }
        }

        func parsedTiers() throws -> Set<ReviewTier> {
            let parts = tiers.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let parsed = parts.map { Int($0).flatMap(ReviewTier.init(rawValue:)) }
            guard !parts.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--tiers is 1, 2 or 1,2; got '\(tiers)'.")
            }
            return Set(parsed.compactMap { $0 })
        }

        func run() async throws {
            let store = try await database.open(create: true)
            do {
                print(try await APIKeys.create(name: name, role: role, tiers: try parsedTiers(), feeds: parsedFeeds(), in: store))
            } catch let error as Engine.ValidationError {
                // The name, tiers or feeds given: a bad argument (64), as the README's exit codes have it.
                throw CommandError("--\(error.field): \(error.message)\(error.message.hasSuffix(".") ? "" : ".")", code: Winnow.usageError)
            } catch let error as StoreError {
                throw CommandError(error.description)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List keys (names, roles, tiers, feeds, dates; never the secrets).",
            discussion: """
              Examples:
                winnow keys list
                winnow keys list --json --database /var/lib/winnow/winnow.sqlite
              """)
        @OptionGroup var database: DatabaseOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let keys = try await database.open().keys()
            if json {
                struct Row: Encodable { var name: String; var role: Role; var tiers: [Int]; var feeds: [String]?; var created: String; var revoked: String? }
                let rows = keys.map {
                    Row(name: $0.name, role: $0.role, tiers: $0.workableTiers.map(\.rawValue).sorted(), feeds: $0.role == .feed ? $0.feeds?.sorted() : nil,
                        created: $0.createdAt.ISO8601Format(), revoked: $0.revokedAt?.ISO8601Format())
                }
                print(try jsonString(rows))
                return
            }
            if keys.isEmpty { print("No keys yet. Create one with: winnow keys create --role feed --name NAME"); return }
            print("\(pad("NAME", 24)) \(pad("ROLE", 10)) \(pad("TIERS", 6)) \(pad("FEEDS", 20)) \(pad("CREATED", 21)) REVOKED")
            for key in keys {
                let tiers = key.role == .feed ? "-" : APIKeyRecord.storedTiers(key.workableTiers)
                let feeds = key.role == .feed ? APIKeyRecord.storedFeeds(key.feeds) ?? "(every feed)" : "(every feed)"
                print("\(pad(key.name, 24)) \(pad(key.role.rawValue, 10)) \(pad(tiers, 6)) \(pad(feeds, 20)) \(pad(key.createdAt.ISO8601Format(), 21)) \(key.revokedAt?.ISO8601Format() ?? "-")")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key by name (a running server stops accepting it within seconds).",
            discussion: """
              Examples:
                winnow keys revoke news-feed
                winnow keys revoke alice --database postgres://winnow@db/winnow
              """)
        @Argument(help: "The key's name.") var name: String
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            guard try await database.open().revokeKey(name: name, at: Date()) else {
                throw CommandError("No live key called '\(name)'; 'winnow keys list' shows the keys.")
            }
            print("Revoked '\(name)'.")
        }
    }
}

extension Role: ExpressibleByArgument {}

struct Rescore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run stage 3 once: rescore the items whose scheduled age has come (for cron instead of the server's scheduler).",
        discussion: """
            Example (every minute from cron):
              winnow rescore --due --database /var/lib/winnow/winnow.sqlite
            """)

    @Flag(help: "Rescore every item that is due now (required: the only mode).") var due = false
    @OptionGroup var options: StoreOptions

    func validate() throws {
        guard due else { throw ValidationError("Pass --due to rescore the items that are due now.") }
    }

    func run() async throws {
        let configuration = try options.load()
        let service = try await options.service(configuration, createDatabase: false)
        let count = try await service.rescoreDue(batch: configuration.schedulerBatch)
        let pending = try await service.store.pendingRescores()
        print("Rescored \(count) due item\(count == 1 ? "" : "s"); \(pending) item\(pending == 1 ? " has" : "s have") a rescore scheduled later.")
    }
}
