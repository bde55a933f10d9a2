import Engine
import Foundation
import Media
import Services
import WinnowJSON

/// Everything `winnow serve` can be told, with documented defaults. Sources, later ones winning: the defaults
/// here, a JSON file (`--config FILE` / `WINNOW_CONFIG`, laid over the defaults by `overlay`, so it names only what
/// it changes), `WINNOW_…` environment variables, command-line flags.
public struct ServerConfiguration: Codable, Equatable, Sendable {
    /// Address to listen on. Default 127.0.0.1.
    public var host = "127.0.0.1"
    /// Port. Default 8080.
    public var port = 8080
    /// SQLite file. Default ./winnow.sqlite.
    public var database = "winnow.sqlite"
    /// The text model. Default models/default.winnow.
    public var model = "models/default.winnow"
    /// The folder where the model registry keeps each registered version's file.
    public var registry = "models/registry"
    /// Online learning: each new human label (a decision, an import, a correction) updates the active naive-Bayes model
    /// at once, and a withdrawn label is unlearnt; every update is a new version in the registry. Default off.
    public var onlineLearning = false
    /// Largest request body, in bytes. Default 1 MiB.
    public var maxBodyBytes = 1 << 20
    /// Largest body of `POST /v1/items:batch`. Default 8 MiB.
    public var maxBatchBodyBytes = 8 << 20
    /// Most bytes of request bodies held at once while they arrive, past each body's first 64 KiB (small requests
    /// never wait on it); a large body that finds it spent is a 503 to retry. Default 256 MiB.
    public var maxBodyBytesInFlight = 256 << 20
    /// Items' images and videos: size limits and the video sampling rate.
    public var media = MediaConfiguration()
    /// Most items in one batch. Default 1,000.
    public var maxBatchItems = 1_000
    /// Most candidates in one `POST /v1/rank`. Default 1,000.
    public var maxRankItems = 1_000
    /// Seconds between the scheduler's passes over due rescores. Default 5.
    public var schedulerIntervalSeconds = 5.0
    /// Rescores per scheduler transaction. Default 500.
    public var schedulerBatch = 500
    /// Seconds an API key lookup is cached (a revoked key stops working within this time, on every node). Default 5.
    public var keyCacheSeconds = 5.0
    /// Seconds between a node's reads of what other nodes sharing its database changed: the active model and the
    /// feeds' policies (a promotion or a saved policy holds on every node within this time). Default 2.
    public var syncIntervalSeconds = 2.0
    /// Connections to PostgreSQL per node (ignored for SQLite). Default 16.
    public var databasePoolSize = 16
    /// Seconds a connection may go without sending a complete request head, counted from its start or its last
    /// answer; then it is closed. Covers idle keep-alive connections and clients that send their headers slowly.
    /// Default 60 (nginx's `client_header_timeout`).
    public var idleTimeoutSeconds = 60.0
    /// Seconds a request's body may take to arrive after its head; then the connection is closed. Default 60.
    public var bodyTimeoutSeconds = 60.0
    /// Most open client connections; further ones wait in the listen backlog until one closes. Default 1,024.
    public var maxConnections = 1_024
    /// Most open connections from one client address; a further one is closed at once, so one client holding
    /// connections open (sending its headers slowly, say) cannot take every slot of `maxConnections`. 0: no limit
    /// (behind a proxy every client shares the proxy's address: set it above the proxy's own connections, or 0).
    /// Default 256.
    public var maxConnectionsPerAddress = 256
    /// The engine: clear label, reasons, text limit, engagement triggers, rescore ages, the Bayesian rule.
    public var engine = EngineConfiguration()
    /// Decision events: how long they are kept for the changes feed, and how webhooks deliver them.
    public var events = EventsConfiguration()
    /// The retraining loop: when passes run, what they train on, the gate, the shadow and how promotion happens.
    public var retrain = RetrainConfiguration()

    public init() {}

    /// The environment variables read, and the key each sets.
    public static let environmentVariables: [(variable: String, key: String)] = [
        ("WINNOW_HOST", "host"), ("WINNOW_PORT", "port"), ("WINNOW_DATABASE", "database"), ("WINNOW_MODEL", "model"),
        ("WINNOW_MAX_BODY_BYTES", "maxBodyBytes"), ("WINNOW_SCHEDULER_INTERVAL_SECONDS", "schedulerIntervalSeconds"),
    ]

    /// Layers the configuration: defaults, then `file` (JSON), then the environment, then `overrides`.
    /// - Throws: `ConfigurationError` naming the file, variable or value that is wrong.
    public static func load(file: String?, environment: [String: String], overrides: (inout ServerConfiguration) -> Void = { _ in }) throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigurationError("Cannot read the configuration file \(file); check the path given to --config or WINNOW_CONFIG.")
            }
            do {
                configuration = try overlay(data, on: configuration, document: "The configuration file \(file)")
            } catch let error as JSONError {
                throw ConfigurationError("\(error.message(in: "The configuration file \(file) is not valid")) See README (Configuration) for the keys.")
            }
        }
        for (variable, key) in environmentVariables {
            guard let value = environment[variable] else { continue }
            func int() throws -> Int {
                guard let n = Int(value) else { throw ConfigurationError("\(variable)=\(value) is not a whole number.") }
                return n
            }
            switch key {
            case "host": configuration.host = value
            case "port": configuration.port = try int()
            case "database": configuration.database = value
            case "model": configuration.model = value
            case "maxBodyBytes": configuration.maxBodyBytes = try int()
            case "schedulerIntervalSeconds":
                guard let s = Double(value) else { throw ConfigurationError("\(variable)=\(value) is not a number of seconds.") }
                configuration.schedulerIntervalSeconds = s
            default: break
            }
        }
        overrides(&configuration)
        try configuration.validate()
        return configuration
    }

    /// Decodes `json` over `base`: keys present replace, nested objects merge, so a file names only what it
    /// changes (`{"engine": {"rule": {"viralFactor": 20}}}`). The file is read as strictly as a request body
    /// (`StrictDecoder`): a key given twice, a key no setting has (with the nearest one named: a typo must not pass
    /// silently), a fraction where a whole number belongs and `null` for a setting that cannot be off are refused by
    /// name. Objects keyed by names the user chooses (reasons, classes, feeds) take new keys and keep the defaults'
    /// other entries.
    /// - Throws: `JSONError` naming the key (`retrain.shadowHours`) and what is wrong with its value.
    static func overlay(_ json: Data, on base: ServerConfiguration, document: String = "The configuration") throws -> ServerConfiguration {
        let user = try JSONParser.parse([UInt8](json), document: document)
        guard case .object(let given) = user else {
            throw JSONError(.malformed, field: nil, "\(document) must hold one JSON object, not \(user.kind).")
        }
        let encoded = try JSONEncoder().encode(base)
        guard case .object(let defaults) = try JSONParser.parse([UInt8](encoded)) else {
            throw JSONError(.wrongType, field: nil, "internal: the defaults did not encode as an object.")
        }
        func merge(_ a: [JSONMember], _ b: [JSONMember]) -> [JSONMember] {
            var out = a
            for member in b {
                guard let index = out.firstIndex(where: { $0.key == member.key }) else {
                    // A new entry of a named map, or a key no setting has: the decoder says which.
                    out.append(member)
                    continue
                }
                if case .object(let inner) = out[index].value, case .object(let changes) = member.value {
                    out[index].value = .object(merge(inner, changes))
                } else {
                    out[index].value = member.value
                }
            }
            return out
        }
        // `null` turns off a setting that is optional (`"ageMinutes": null`); elsewhere it is the wrong type.
        var decoder = StrictDecoder.api
        decoder.nullMeansNone = true
        return try decoder.decode(ServerConfiguration.self, from: .object(merge(defaults, given)))
    }

    public func validate() throws {
        guard (0...65_535).contains(port) else { throw ConfigurationError("port \(port) is out of range; use 1-65535 (0 picks a free port).") }
        guard maxBodyBytes >= 1_024, maxBatchBodyBytes >= maxBodyBytes else {
            throw ConfigurationError("maxBodyBytes must be at least 1024 and maxBatchBodyBytes at least maxBodyBytes.")
        }
        guard maxBodyBytesInFlight >= max(maxBatchBodyBytes, media.maxItemBodyBytes) else {
            throw ConfigurationError("maxBodyBytesInFlight (\(maxBodyBytesInFlight)) must be at least the largest body one request may send (maxBatchBodyBytes \(maxBatchBodyBytes), media.maxItemBodyBytes \(media.maxItemBodyBytes)), or such a body could never arrive.")
        }
        let m = media
        guard m.maxItemBodyBytes >= maxBodyBytes, m.maxPerItem >= 0, m.maxImageBytes >= 1, m.maxImagePixels >= 1, m.maxVideoBytes >= 1,
              m.maxVideoSeconds.isFinite, m.maxVideoSeconds > 0, m.framesPerSecond.isFinite, m.framesPerSecond > 0,
              m.maxVideoHashSeconds.isFinite, m.maxVideoHashSeconds > 0 else {
            throw ConfigurationError("media: maxItemBodyBytes must be at least maxBodyBytes, maxPerItem ≥ 0, the byte, pixel and second limits ≥ 1, and framesPerSecond and maxVideoHashSeconds numbers > 0.")
        }
        guard maxBatchItems >= 1, maxRankItems >= 1, schedulerBatch >= 1 else {
            throw ConfigurationError("maxBatchItems, maxRankItems and schedulerBatch must be at least 1.")
        }
        // Each named on its own (one sentence about three left the reader to find which).
        for (name, value) in [("schedulerIntervalSeconds", schedulerIntervalSeconds), ("syncIntervalSeconds", syncIntervalSeconds)] where !(value > 0) {
            throw ConfigurationError("\(name) is \(value); give a number of seconds above 0.")
        }
        guard keyCacheSeconds >= 0 else { throw ConfigurationError("keyCacheSeconds is \(keyCacheSeconds); give a number of seconds, 0 or more.") }
        for (name, value) in [("idleTimeoutSeconds", idleTimeoutSeconds), ("bodyTimeoutSeconds", bodyTimeoutSeconds)] where !(value > 0) {
            throw ConfigurationError("\(name) is \(value); give a number of seconds above 0.")
        }
        guard maxConnections >= 1 else { throw ConfigurationError("maxConnections is \(maxConnections); allow at least 1 connection.") }
        guard maxConnectionsPerAddress >= 0 else {
            throw ConfigurationError("maxConnectionsPerAddress is \(maxConnectionsPerAddress); allow at least 1 connection per client address, or 0 for no limit.")
        }
        guard (1...1_000).contains(databasePoolSize) else {
            throw ConfigurationError("databasePoolSize must be between 1 and 1000 connections.")
        }
        try events.validate()
        try retrain.validate()
        guard engine.maxTextBytes >= 1, engine.reasons >= 0 else { throw ConfigurationError("engine.maxTextBytes must be ≥ 1 and engine.reasons ≥ 0.") }
        guard engine.maxSnapshotsPerItem >= 2 else {
            throw ConfigurationError("engine.maxSnapshotsPerItem is \(engine.maxSnapshotsPerItem); keep at least 2 engagement snapshots per item (the first and the latest).")
        }
        guard engine.schedule.agesHours.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ConfigurationError("engine.schedule.agesHours must hold positive numbers of hours, e.g. [1, 6, 24, 72].")
        }
        let review = engine.review
        guard review.undoMinutes >= 0, review.undoMinutes.isFinite else {
            throw ConfigurationError("engine.review.undoMinutes must be 0 (no taking back) or more minutes; got \(review.undoMinutes).")
        }
        guard review.leaseSeconds > 0, review.defaultSLAMinutes > 0, review.slaMinutes.values.allSatisfy({ $0 > 0 }) else {
            throw ConfigurationError("engine.review.leaseSeconds, defaultSLAMinutes and every slaMinutes value must be > 0.")
        }
        for reason in review.slaMinutes.keys.sorted() where TicketReason(rawValue: reason) == nil {
            throw ConfigurationError("engine.review.slaMinutes.\(reason): no such reason; use \(TicketReason.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        guard (0...1).contains(review.goldRate), review.auditRates.values.allSatisfy({ (0...1).contains($0) }) else {
            throw ConfigurationError("engine.review.goldRate and every auditRates value are probabilities between 0 and 1.")
        }
        for bucket in review.auditRates.keys.sorted() where !["allow", "demote", "remove", "allow.near", "demote.near", "remove.near"].contains(bucket) {
            throw ConfigurationError("engine.review.auditRates.\(bucket): audits sample automatic decisions by bucket: allow, demote or remove, each also with .near (e.g. allow.near).")
        }
        guard review.auditNearMargin >= 0 && review.auditNearMargin <= 1 else {
            throw ConfigurationError("engine.review.auditNearMargin is a probability margin between 0 and 1.")
        }
        // Each named on its own (outside testing: one sentence about five left the reader to find which).
        guard !review.reasonCodes.isEmpty else { throw ConfigurationError("engine.review.reasonCodes is empty; give at least one reason code reviewers can pick.") }
        guard review.maxClaim >= 1 else { throw ConfigurationError("engine.review.maxClaim is \(review.maxClaim); let a reviewer claim at least 1 ticket.") }
        guard review.reportThreshold > 0 else { throw ConfigurationError("engine.review.reportThreshold is \(review.reportThreshold); give a weight of reports above 0.") }
        guard review.reopenFactor >= 1 else { throw ConfigurationError("engine.review.reopenFactor is \(review.reopenFactor); give a factor of 1 or more.") }
        for (label, value) in review.severity.sorted(by: { $0.key < $1.key }) where !(value >= 0 && value.isFinite) {
            throw ConfigurationError("engine.review.severity.\(label) is \(value); give a severity of 0 or more.")
        }
        try checkEngagement()
        try checkTimesFitAYear()
    }

    /// Stage 2's triggers and rule in their ranges (outside testing: `harmfulRateMultiple: 0` made a report lower
    /// P(harm), and view thresholds of −5 and 0 were taken).
    func checkEngagement() throws {
        for (i, threshold) in engine.triggers.viewThresholds.enumerated() where threshold < 1 {
            throw ConfigurationError("engine.triggers.viewThresholds[\(i)] is \(threshold); a threshold is a number of views of at least 1, e.g. [100, 1000, 10000].")
        }
        if let age = engine.triggers.ageMinutes, !(age >= 0 && age.isFinite) {
            throw ConfigurationError("engine.triggers.ageMinutes is \(age); give minutes, 0 or more (or leave it out).")
        }
        let r = engine.rule
        let checks: [(String, Double, Bool, String)] = [
            ("priorViews", r.priorViews, r.priorViews > 0, "a weight in views above 0"),
            ("harmfulPriorViews", r.harmfulPriorViews, r.harmfulPriorViews > 0, "a weight in views above 0"),
            ("harmfulRateMultiple", r.harmfulRateMultiple, r.harmfulRateMultiple > 1, "a multiple above 1 (harmful items are reported more often than clear ones)"),
            ("defaultReportRate", r.defaultReportRate, r.defaultReportRate > 0 && r.defaultReportRate <= EngagementRule.maxBaselineRate, "a rate above 0 and at most 0.05"),
            ("maxOddsRatio", r.maxOddsRatio, r.maxOddsRatio >= 1, "a ratio of 1 or more"),
            ("minOddsRatio", r.minOddsRatio, r.minOddsRatio > 0 && r.minOddsRatio <= 1, "a ratio above 0 and at most 1"),
            ("viralFactor", r.viralFactor, r.viralFactor >= 1, "a factor of 1 or more"),
            ("defaultVelocity", r.defaultVelocity, r.defaultVelocity > 0, "views per hour above 0"),
            ("uncertainLow", r.uncertainLow, (0...1).contains(r.uncertainLow) && r.uncertainLow <= r.uncertainHigh, "a probability at most uncertainHigh"),
            ("uncertainHigh", r.uncertainHigh, (0...1).contains(r.uncertainHigh), "a probability between 0 and 1"),
        ]
        for (name, value, ok, wanted) in checks where !(ok && value.isFinite) {
            throw ConfigurationError("engine.rule.\(name) is \(value); give \(wanted).")
        }
        guard r.viralMinViews >= 0 else { throw ConfigurationError("engine.rule.viralMinViews is \(r.viralMinViews); give a number of views, 0 or more.") }
        guard r.baselineMinimumItems >= 1 else { throw ConfigurationError("engine.rule.baselineMinimumItems is \(r.baselineMinimumItems); give at least 1 item.") }
    }

    /// The settings keyed by class name name classes the model has (outside testing: a misspelt `spammm` was ignored
    /// without a word). Checked where the model is known, at the start of `serve`; the defaults' own keys (severities
    /// of classes other models have) are not the file's mistakes.
    public func checkClassNames(_ classes: [String]) throws {
        let defaults = ServerConfiguration().engine
        let known = Set(classes).union(defaults.review.severity.keys).union(defaults.review.skills.keys).union(defaults.banks.labels.keys)
        func check(_ keys: some Sequence<String>, _ setting: String) throws {
            for key in keys.sorted() where !known.contains(key) {
                let near = StrictDecoder.nearest(key, among: classes).map { " Did you mean '\($0)'?" } ?? ""
                throw ConfigurationError("\(setting).\(key): the model has no class '\(key)' (its classes: \(classes.joined(separator: ", "))).\(near)")
            }
        }
        try check(engine.review.severity.keys, "engine.review.severity")
        try check(engine.review.skills.keys, "engine.review.skills")
        try check(engine.banks.labels.keys, "engine.banks.labels")
    }

    /// Every time setting at most a year (outside testing: `retrain.checkSeconds: 1e300` passed the checks and
    /// stopped the server on every start, converting the wait to a whole number of nanoseconds; a shadow of 1e300
    /// hours blocked the loop for good). Each is named with its own unit.
    func checkTimesFitAYear() throws {
        let e = events, r = retrain, v = engine.review
        let times: [(name: String, value: Double, unit: String, perYear: Double)] = [
            ("schedulerIntervalSeconds", schedulerIntervalSeconds, "seconds", 31_536_000), ("syncIntervalSeconds", syncIntervalSeconds, "seconds", 31_536_000),
            ("keyCacheSeconds", keyCacheSeconds, "seconds", 31_536_000), ("idleTimeoutSeconds", idleTimeoutSeconds, "seconds", 31_536_000),
            ("bodyTimeoutSeconds", bodyTimeoutSeconds, "seconds", 31_536_000), ("media.maxVideoHashSeconds", media.maxVideoHashSeconds, "seconds", 31_536_000),
            ("events.retentionDays", e.retentionDays, "days", 365), ("events.pruneIntervalSeconds", e.pruneIntervalSeconds, "seconds", 31_536_000),
            ("events.maxWaitSeconds", e.maxWaitSeconds, "seconds", 31_536_000), ("events.timeoutSeconds", e.timeoutSeconds, "seconds", 31_536_000),
            ("events.leaseSeconds", e.leaseSeconds, "seconds", 31_536_000), ("events.retry.initialSeconds", e.retry.initialSeconds, "seconds", 31_536_000),
            ("events.retry.maxSeconds", e.retry.maxSeconds, "seconds", 31_536_000),
            ("events.retry.failingAfterSeconds", e.retry.failingAfterSeconds, "seconds", 31_536_000),
            ("retrain.everyHours", r.everyHours, "hours", 8_760), ("retrain.checkSeconds", r.checkSeconds, "seconds", 31_536_000),
            ("retrain.leaseMinutes", r.leaseMinutes, "minutes", 525_600), ("retrain.shadowHours", r.shadowHours, "hours", 8_760),
            ("engine.review.undoMinutes", v.undoMinutes, "minutes", 525_600), ("engine.review.leaseSeconds", v.leaseSeconds, "seconds", 31_536_000),
            ("engine.review.defaultSLAMinutes", v.defaultSLAMinutes, "minutes", 525_600),
        ] + v.slaMinutes.sorted { $0.key < $1.key }.map { ("engine.review.slaMinutes.\($0.key)", $0.value, "minutes", 525_600) }
            + engine.schedule.agesHours.enumerated().map { ("engine.schedule.agesHours[\($0.offset)]", $0.element, "hours", 87_600) }
        for time in times where !(time.value <= time.perYear) {
            let most = time.perYear == 87_600 ? "ten years" : "a year"
            throw ConfigurationError("\(time.name) is \(time.value); give at most \(FixedText.format(time.perYear, places: 0)) \(time.unit) (\(most)).")
        }
    }
}

/// Limits on items' media (`media` in the configuration). A file is hashed on arrival and dropped: only its
/// signature is stored.
public struct MediaConfiguration: Codable, Equatable, Sendable {
    /// Largest body of `POST /v1/items` (an item with its media in base64, a third larger than the files). Batches keep
    /// `maxBatchBodyBytes`.
    public var maxItemBodyBytes = 16 << 20
    /// Media an item may carry.
    public var maxPerItem = 4
    public var maxImageBytes = 8 << 20
    public var maxImagePixels = 50_000_000
    /// 11 MiB: its base64 (a third larger) and the item around it fit `maxItemBodyBytes`.
    public var maxVideoBytes = 11 << 20
    public var maxVideoSeconds = 600.0
    /// Seconds of work one video may take on the node's media queue (one upload at a time): past it the upload is
    /// refused (422, code `too_large`), so that a crafted file cannot hold the queue for minutes.
    public var maxVideoHashSeconds = 60.0
    /// Video frames hashed per second of video (vPDQ samples one a second).
    public var framesPerSecond = 1.0

    public init() {}

    public var intake: MediaIntake {
        // Checked by `ServerConfiguration.validate`.
        var limits = MediaLimits.standard
        limits.maxImageBytes = maxImageBytes
        limits.maxImagePixels = maxImagePixels
        limits.maxVideoBytes = maxVideoBytes
        limits.maxVideoSeconds = maxVideoSeconds
        limits.maxVideoHashSeconds = maxVideoHashSeconds
        return MediaIntake(limits: limits, maxItems: maxPerItem, framesPerSecond: framesPerSecond)
    }
}
