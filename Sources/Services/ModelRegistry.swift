import Engine
import Foundation
import Learning

/// Why the registry refused.
public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case unknownVersion(String)
    case classesDiffer(version: String, candidate: [String], active: [String])
    /// No promotion to roll back: of the shared model (nil), or of `feed`, which has never had a model of its own.
    case nothingToRollBack(feed: String?)
    case versionTaken(String)

    public var description: String {
        switch self {
        case let .unknownVersion(v):
            return "No model version '\(v)' in the registry (a retraining candidate the gate refused is never registered). GET /v1/models lists them; register a file with POST /v1/models."
        case let .classesDiffer(v, candidate, active):
            return "Model \(v) has the classes \(candidate.joined(separator: ", ")), the active model \(active.joined(separator: ", ")); policies and labels name classes, so a model with other classes cannot be promoted in place."
        case .nothingToRollBack(nil): return "No promotion to roll back: the active model is the one the server started with."
        case let .nothingToRollBack(feed?):
            return "Feed \(feed) has never had a model of its own: it uses the shared model, so there is nothing to roll back (promote a version with ?feed=\(feed) to give it one)."
        case let .versionTaken(v): return "A different model file is registered as '\(v)'; train with another --name."
        }
    }
}

/// The model registry: every registered version keeps its file (copied into `directory`), its card, its classes and
/// its parent; promotion swaps the model inside the running server at once (a request is scored entirely by the old
/// model or entirely by the new), and a rollback returns to the model active before the last change.
public struct ModelRegistry: Sendable {
    public let scoring: ScoringService
    public let directory: String

    public init(scoring: ScoringService, directory: String) {
        self.scoring = scoring
        self.directory = directory
    }

    var store: any Store { scoring.store }

    /// The registry file of `version` (characters outside [A-Za-z0-9._@-] become "_").
    func path(for version: String) -> String {
        let safe = String(version.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._@-".contains($0)) ? $0 : "_" })
        return (directory as NSString).appendingPathComponent(safe + ".winnow")
    }

    /// Checks and stores a model file; registering the same file again changes nothing (`isNew` false).
    /// - Throws: `ValidationError` (field `body`) for a file that is not a usable model or whose version name is not
    ///   one (`checkVersionName`); `RegistryError.versionTaken`.
    @discardableResult
    public func register(_ bytes: [UInt8], by: String) async throws -> (record: ModelVersionRecord, isNew: Bool) {
        let model: TextClassifier
        do {
            model = try TextClassifier(serialized: bytes)
            try model.checkTrained()
            try Policy.checkClasses(model.classes)
        } catch {
            throw ValidationError(field: "body", "not a usable model file: \(error)")
        }
        try Self.checkVersionName(model.header.modelVersion)
        return try await register(model, bytes: bytes, by: by)
    }

    /// Longest version name.
    public static let maximumVersionBytes = 128

    /// Whether a version name may start with byte `b`: an ASCII letter or digit.
    public static func mayStartVersion(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    /// Whether byte `b` may be in a version name: an ASCII letter or digit, or one of `._@:+-`.
    public static func mayAppearInVersion(_ b: UInt8) -> Bool { mayStartVersion(b) || "._@:+-".utf8.contains(b) }

    /// Whether `version` may name a model version (`checkVersionName`).
    public static func isVersionName(_ version: String) -> Bool {
        (1...maximumVersionBytes).contains(version.utf8.count) && version.utf8.first.map(mayStartVersion) == true
            && version.utf8.allSatisfy(mayAppearInVersion)
    }

    /// A version name is 1-128 bytes of letters, digits and `._@:+-`, starting with a letter or digit: it names a
    /// file in the registry folder and a path segment (`/v1/models/VERSION/promote`).
    public static func checkVersionName(_ version: String) throws {
        guard isVersionName(version) else {
            throw ValidationError(field: "body", "the model's version name '\(version.prefix(40))\(version.utf8.count > 40 ? "…" : "")' (\(version.utf8.count) bytes) is not one: use 1-\(maximumVersionBytes) letters, digits and ._@:+- starting with a letter or digit (winnow train --name NAME)")
        }
    }

    @discardableResult
    func register(_ model: TextClassifier, bytes: [UInt8], by: String) async throws -> (record: ModelVersionRecord, isNew: Bool) {
        let version = model.header.modelVersion
        let file = path(for: version)
        if let existing = try await record(version) {
            guard try await self.bytes(of: existing) == bytes else { throw RegistryError.versionTaken(version) }
            return (existing, false)
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = file + ".\(getpid()).tmp"
        try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, file) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw ConfigurationError("Cannot move the model into the registry at \(file) (errno \(errno)); check that \(directory) is writable.")
        }
        let record = ModelVersionRecord(version: version, file: file, kind: model.kind.rawValue, classes: model.classes, parent: model.header.parentVersion,
                                        card: ModelCard.render(model.header, file: file), registeredBy: by, registeredAt: scoring.clock())
        guard try await store.registerModel(record, file: bytes) else {
            // Another node registered this version meanwhile: the same file is the same version, another is refused.
            guard let existing = try await self.record(version), try await self.bytes(of: existing) == bytes else {
                throw RegistryError.versionTaken(version)
            }
            return (existing, false)
        }
        return (record, true)
    }

    /// The file of a registered version: from the database, or for a version registered before files were kept
    /// there, from the registry directory.
    func bytes(of record: ModelVersionRecord) async throws -> [UInt8]? {
        try await Self.bytes(of: record, in: store)
    }

    static func bytes(of record: ModelVersionRecord, in store: any Store) async throws -> [UInt8]? {
        if let bytes = try await store.modelFile(version: record.version) { return bytes }
        return FileManager.default.contents(atPath: record.file).map { [UInt8]($0) }
    }

    /// The shared model the servers on `store` serve, as the registry records it: the version of the last promotion
    /// or rollback, loaded from its file. Nil when nothing was ever promoted (each server then serves the model it
    /// was started with).
    /// - Throws: `ConfigurationError` when that version's file is gone.
    public static func active(in store: any Store) async throws -> TextClassifier? {
        guard let last = try await store.promotions().last(where: { $0.feed == nil }),
              let record = try await store.modelVersions().first(where: { $0.version == last.version }) else { return nil }
        guard let bytes = try await bytes(of: record, in: store) else {
            throw ConfigurationError("The file of model \(record.version) is neither in the database nor at \(record.file); register it again.")
        }
        return try ActiveModel.load(bytes: bytes, name: record.version)
    }

    /// The model of a registered version.
    func load(_ record: ModelVersionRecord) async throws -> TextClassifier {
        guard let bytes = try await bytes(of: record) else {
            throw ConfigurationError("The file of model \(record.version) is neither in the database nor at \(record.file); register it again.")
        }
        return try ActiveModel.load(bytes: bytes, name: record.version)
    }

    func record(_ version: String) async throws -> ModelVersionRecord? {
        try await store.modelVersions().first { $0.version == version }
    }

    public func versions() async throws -> [ModelVersionRecord] {
        try await store.modelVersions()
    }

    /// Every promotion and rollback, oldest first.
    public func history() async throws -> [ModelPromotion] {
        try await store.promotions()
    }

    /// Makes `version` the active model: the shared one, or with `feed` that feed's own (the feed stops using the
    /// shared model). The model it replaces is registered first, so a rollback can return to it.
    /// - Throws: `RegistryError`; `ValidationError` (field `feed`) for a feed name that is not one.
    @discardableResult
    public func promote(_ version: String, by: String, kind: ModelPromotion.Kind = .promote, feed: String? = nil) async throws -> ModelVersionRecord {
        guard let record = try await record(version) else { throw RegistryError.unknownVersion(version) }
        if let feed { return try await promote(record, by: by, kind: kind, feed: feed) }
        // Promoting the active version changes nothing and records nothing (outside testing: a second promotion of the
        // same version made each rollback return to it, never to the model before).
        if kind == .promote, scoring.model.version == record.version { return record }
        let model = try await load(record)
        let active = scoring.model.textModel
        guard model.classes == active.classes else {
            throw RegistryError.classesDiffer(version: version, candidate: model.classes, active: active.classes)
        }
        _ = try await register(active, bytes: try active.serialized(), by: by)
        try scoring.model.replace(with: model)
        scoring.metrics.activeModel(version: record.version)
        try await store.recordPromotion(ModelPromotion(version: record.version, previous: active.header.modelVersion, kind: kind, by: by, at: scoring.clock()))
        return record
    }

    /// A feed's own model: every feed's classes are the shared model's (policies and labels name them).
    func promote(_ record: ModelVersionRecord, by: String, kind: ModelPromotion.Kind, feed: String) async throws -> ModelVersionRecord {
        guard Policy.isValidFeed(feed) else { throw ValidationError(field: "feed", "'\(feed.prefix(64))' is not a feed name: use 1-64 characters from a-z, 0-9, '-' and '_'") }
        let model = try await load(record)
        let shared = scoring.model.classes
        guard model.classes == shared else { throw RegistryError.classesDiffer(version: record.version, candidate: model.classes, active: shared) }
        let previous = scoring.feedModelVersions[feed]
        if kind == .promote, previous == record.version { return record }
        try scoring.setModel(model, for: feed)
        try await store.recordPromotion(ModelPromotion(feed: feed, version: record.version, previous: previous ?? "", kind: kind, by: by, at: scoring.clock()))
        return record
    }

    /// Scores live items with a registered version beside the active model, without acting on it (shadow mode):
    /// beside the shared model, or with `feed` beside that feed's model, on its items.
    /// `byLoop`: a retraining pass's shadow, which ends with its pass (an admin's stays until the admin ends it).
    public func shadow(_ version: String, feed: String? = nil, byLoop: Bool = false) async throws -> ModelVersionRecord {
        guard let record = try await record(version) else { throw RegistryError.unknownVersion(version) }
        let model = try await load(record)
        let active = scoring.model.classes
        guard model.classes == active else { throw RegistryError.classesDiffer(version: version, candidate: model.classes, active: active) }
        try scoring.startShadow(model, feed: feed, byLoop: byLoop)
        return record
    }

    /// Returns to the model that was active before the last promotion or rollback: of the shared model, or with
    /// `feed` of that feed (whose first own model, rolled back, leaves it on the shared model again).
    @discardableResult
    public func rollback(by: String, feed: String? = nil) async throws -> ModelVersionRecord {
        guard let feed else {
            guard let last = try await store.promotions().last(where: { $0.feed == nil }) else { throw RegistryError.nothingToRollBack(feed: nil) }
            return try await promote(last.previous, by: by, kind: .rollback)
        }
        guard let last = try await store.promotions().last(where: { $0.feed == feed }) else { throw RegistryError.nothingToRollBack(feed: feed) }
        // Back from the shared model to the feed's own it left (as the shared model's rollback, twice in a row
        // returns to where it started; it said there was nothing to roll back).
        if last.toShared == true || !last.previous.isEmpty { return try await promote(last.previous, by: by, kind: .rollback, feed: feed) }
        guard let shared = try await record(scoring.model.version) else { throw RegistryError.unknownVersion(scoring.model.version) }
        try scoring.setModel(nil, for: feed)
        try await store.recordPromotion(ModelPromotion(feed: feed, version: shared.version, previous: last.version, kind: .rollback, by: by, at: scoring.clock(),
                                                       toShared: true))
        return shared
    }

    /// Each feed's own model as the registry's log (`log`, oldest first) last set it ("" for none); feeds that never
    /// had one are absent.
    static func feedModels(on log: [ModelPromotion]) -> [String: String] {
        var latest: [String: String] = [:]
        for promotion in log { if let feed = promotion.feed { latest[feed] = promotion.toShared == true ? "" : promotion.version } }
        return latest
    }

    /// Makes each feed's own model what the registry's log (`log`) says; returns the feeds that changed.
    @discardableResult
    func restoreFeedModels(_ log: [ModelPromotion]) async throws -> [String] {
        var changed: [String] = []
        let serving = scoring.feedModelVersions
        for (feed, version) in Self.feedModels(on: log).sorted(by: { $0.key < $1.key }) where serving[feed] ?? "" != version {
            if version.isEmpty {
                try scoring.setModel(nil, for: feed)
            } else {
                guard let record = try await record(version) else { continue }
                try scoring.setModel(try await load(record), for: feed)
            }
            changed.append(feed)
        }
        return changed
    }

    /// At start: the model the server serves is a registered version from its first request on. With promotions on
    /// record, that is the last one's version (made the server's model, and returned); without, the model the server
    /// was started with is registered (once: a version names one file), so no other file can later be uploaded under
    /// its name and listed as active.
    /// - Throws: `ConfigurationError` when the starting model's version is registered with a different file.
    public func startServing(by: String = "winnow serve") async throws -> String? {
        let log = try await store.promotions()
        try await restoreFeedModels(log)
        if let last = log.last(where: { $0.feed == nil }) { return try await restore(last) }
        let active = scoring.model.textModel
        do {
            _ = try await register(active, bytes: try active.serialized(), by: by)
        } catch RegistryError.versionTaken(let version) {
            throw ConfigurationError("The model this server starts with is version '\(version)', but the registry holds a different file under that name; a version names one file. Retrain with another --name, or promote the registered version.")
        }
        return nil
    }

    /// Makes the registry's active version (the last change) the server's model, when there is one and it is not
    /// already; returns it.
    public func restoreActive() async throws -> String? {
        let log = try await store.promotions()
        try await restoreFeedModels(log)
        guard let last = log.last(where: { $0.feed == nil }) else { return nil }
        return try await restore(last)
    }

    /// Makes `last`'s version the server's model unless it is already; returns it when it changed.
    func restore(_ last: ModelPromotion) async throws -> String? {
        guard last.version != scoring.model.version, let record = try await record(last.version) else { return nil }
        try scoring.model.replace(with: try await load(record))
        scoring.metrics.activeModel(version: record.version)
        return record.version
    }
}
