import Engine
import Foundation
import Learning
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The retraining loop's settings (`retrain` in the server's configuration).
public struct RetrainConfiguration: Codable, Equatable, Sendable {
    /// Whether `winnow serve` runs the loop. Default off (`winnow retrain` runs one pass on demand either way).
    public var enabled = false
    /// Hours between scheduled passes, counted from the last pass's start (0: no schedule). Default 24.
    public var everyHours = 24.0
    /// A pass also starts once this many labels arrived since the last one (0: no such trigger). Default 500.
    public var afterLabels = 500
    /// Seconds between the loop's looks at whether a pass is due or a shadow has ended. Default 60.
    public var checkSeconds = 60.0
    /// Minutes after a failed pass (a node stopped mid-pass, a file missing) before the labels that started it start
    /// another: a failed pass uses none of them up. Default 10.
    public var retryFailedMinutes = 10.0
    /// Labelled files (CSV or JSONL, as `winnow train --data`) every candidate is trained on besides the store's labels.
    public var baseData: [String] = []
    /// Labelled files the gate compares the candidate and the active model on, besides the blind audits.
    public var testData: [String] = []
    /// Label renames for the files, as FROM: TO.
    public var labelMap: [String: String] = [:]
    /// The algorithm and its options (`winnow train`'s).
    public var training = TrainingOptions()
    /// The evaluation gate (paired by default).
    public var gate = EvaluationGate()
    /// Hours a passing candidate scores live items beside the active model before it is promoted (0: none). Default 24.
    public var shadowHours = 24.0
    /// `auto` promotes a candidate that passed its gate and shadow; `approve` leaves it waiting for an admin
    /// (`winnow models promote VERSION`).
    public var promotion = Promotion.auto
    /// A shadow in which the candidate would have changed more than this share of decisions leaves it waiting for an
    /// admin even under `auto`. Default 0.25.
    public var maxShadowActionChange = 0.25
    /// Audited items' labels judge candidates and are not trained on (they are the only uniform sample of the
    /// automatic decisions; a candidate trained on them would be judged on its own training rows). Default true.
    public var holdOutAudits = true
    /// Threads training may use: 1 runs every part on one thread (with `niceness`), 2 lets it split as `winnow train`
    /// does. Default 1.
    public var threads = 1
    /// The training thread's nice value (0-19; higher yields more to scoring). Default 10.
    public var niceness = 10
    /// Linux: the training thread runs under SCHED_IDLE, only when no other thread wants the CPU (nice alone still
    /// let it take a third of the single-item rate in BENCHMARKS.md). Off: nice `niceness` only. Default true.
    public var idleScheduling = true
    /// Most of the store's labels trained on, the newest first (bounds the training set; the labels are read whole).
    /// Default 1,000,000.
    public var maxStoreExamples = 1_000_000
    /// Minutes a node may train before another may take the loop over (a pass longer than this is abandoned). Default 120.
    public var leaseMinutes = 120.0

    /// Feeds that train a model of their own: on their own labels plus base data (the feed's files, else
    /// `baseData`), judged on their own audits and test data (the feed's files, else `testData`) against the model
    /// they use now (their own, or the shared one until they have one). Default none.
    public var feeds: [String: FeedData] = [:]

    public enum Promotion: String, Codable, CaseIterable, Sendable { case auto, approve }

    /// A feed's own files.
    public struct FeedData: Codable, Equatable, Sendable {
        public var baseData: [String] = []
        public var testData: [String] = []

        public init(baseData: [String] = [], testData: [String] = []) {
            self.baseData = baseData
            self.testData = testData
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            baseData = try c.decodeIfPresent([String].self, forKey: .baseData) ?? []
            testData = try c.decodeIfPresent([String].self, forKey: .testData) ?? []
        }
    }

    public init() {}

    /// - Throws: `ConfigurationError` naming the setting.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ value: Any, _ expected: String) throws {
            guard ok else { throw ConfigurationError("retrain.\(key) is \(value); give \(expected).") }
        }
        try check(everyHours.isFinite && everyHours >= 0, "everyHours", everyHours, "hours ≥ 0 (0 turns the schedule off)")
        try check(afterLabels >= 0, "afterLabels", afterLabels, "a number of labels ≥ 0 (0 turns the label trigger off)")
        try check(checkSeconds.isFinite && checkSeconds > 0, "checkSeconds", checkSeconds, "seconds > 0")
        try check(retryFailedMinutes.isFinite && retryFailedMinutes >= 0, "retryFailedMinutes", retryFailedMinutes, "minutes ≥ 0")
        try check(leaseMinutes.isFinite && leaseMinutes > 0, "leaseMinutes", leaseMinutes, "minutes > 0")
        try check(shadowHours.isFinite && shadowHours >= 0, "shadowHours", shadowHours, "hours ≥ 0 (0 promotes without a shadow)")
        try check((0...1).contains(maxShadowActionChange), "maxShadowActionChange", maxShadowActionChange, "a share of decisions in 0-1")
        try check((1...2).contains(threads), "threads", threads, "1 or 2")
        try check((0...19).contains(niceness), "niceness", niceness, "a nice value in 0-19")
        try check(maxStoreExamples >= 1, "maxStoreExamples", maxStoreExamples, "a number of labels ≥ 1")
        for (from, to) in labelMap.sorted(by: { $0.key < $1.key }) {
            try check(!from.isEmpty && !to.isEmpty, "labelMap", "{\"\(from)\": \"\(to)\"}", "FROM: TO pairs of non-empty labels")
        }
        do { try training.validate() } catch { throw ConfigurationError("retrain.training: \(error)") }
        do { try gate.validate() } catch { throw ConfigurationError("retrain.gate: \(error)") }
        for feed in feeds.keys where !Policy.isValidFeed(feed) {
            throw ConfigurationError("retrain.feeds: '\(feed.prefix(64))' is not a feed name (1-64 characters from a-z, 0-9, '-' and '_').")
        }
        guard !enabled || everyHours > 0 || afterLabels > 0 else {
            throw ConfigurationError("retrain.enabled is true but retrain.everyHours and retrain.afterLabels are both 0, so no pass would ever start; give a schedule or a label count (or leave the loop off and run 'winnow retrain --now').")
        }
    }
}

extension RetrainConfiguration {
    /// The configured data files that cannot be read now, each with the key that names it, in the order of the
    /// configuration: what a process that runs the loop checks when it starts, so that a misspelt path stops the
    /// start instead of failing the first pass hours later.
    public func unreadableFiles(isReadable: (String) -> Bool = Self.isReadableFile) -> [(key: String, path: String)] {
        var files = baseData.map { ("retrain.baseData", $0) } + testData.map { ("retrain.testData", $0) }
        for (feed, data) in feeds.sorted(by: { $0.key < $1.key }) {
            files += data.baseData.map { ("retrain.feeds.\(feed).baseData", $0) } + data.testData.map { ("retrain.feeds.\(feed).testData", $0) }
        }
        return files.filter { !isReadable($0.1) }.map { (key: $0.0, path: $0.1) }
    }

    /// A file (not a directory) this process may read.
    public static func isReadableFile(_ path: String) -> Bool {
        !DataFileReader.isDirectory(path) && FileManager.default.isReadableFile(atPath: path)
    }

    /// - Throws: `ConfigurationError` naming the first file that cannot be read and the key that names it.
    public func checkFiles() throws {
        guard let first = unreadableFiles().first else { return }
        throw ConfigurationError("\(first.key) names \(first.path), which cannot be read. Check the path (relative paths start from the directory the server runs in) and that this user may read it, or remove it from the configuration.")
    }
}

/// Where a pass's labelled rows come from besides the store: the base data it trains on and the test rows the gate
/// reads. `files` reads the configured files at each pass (so an edited file counts from the next pass on).
public struct RetrainData: Sendable {
    public var base: @Sendable () throws -> [LabelledText]
    public var test: @Sendable () throws -> [LabelledText]
    /// Names of the sources, for the model's card.
    public var sources: [String]

    public init(sources: [String], base: @escaping @Sendable () throws -> [LabelledText], test: @escaping @Sendable () throws -> [LabelledText]) {
        self.sources = sources
        self.base = base
        self.test = test
    }

    /// The configured files: the shared model's, or with `feed` that feed's (falling back to the shared files).
    public static func files(_ configuration: RetrainConfiguration, feed: String? = nil) -> RetrainData {
        let reader = DataFileReader(labelMap: configuration.labelMap)
        @Sendable func read(_ files: [String]) throws -> [LabelledText] {
            try files.flatMap { try reader.read($0).map { LabelledText(text: $0.text, label: $0.label) } }
        }
        let own = feed.flatMap { configuration.feeds[$0] }
        let base = own.map(\.baseData).flatMap { $0.isEmpty ? nil : $0 } ?? configuration.baseData
        let test = own.map(\.testData).flatMap { $0.isEmpty ? nil : $0 } ?? configuration.testData
        return RetrainData(sources: base.map { URL(fileURLWithPath: $0).lastPathComponent }, base: { try read(base) }, test: { try read(test) })
    }
}

/// The learning loop without a person: trains a candidate on the base data and the store's resolved labels, puts it
/// through the evaluation gate against the active model (test data and blind audits, paired), runs it in shadow,
/// and promotes it (or leaves it for an admin), writing each step to the registry's retraining log
/// (`GET /v1/models/retraining`) and `/metrics`. Passes start by schedule, after enough new labels, or on demand.
///
/// With several nodes on one database, a node takes pass n + 1 by writing its row; the store refuses a second writer
/// of the same number, so exactly one node trains each pass. A pass in training holds the loop until its lease ends;
/// a shadow runs on every node (each scores live items it serves with the candidate too), and the node that finds the
/// shadow over promotes, guarded by the pass's state.
public struct Retrainer: Service, Sendable {
    public let registry: ModelRegistry
    public let configuration: RetrainConfiguration
    public let data: RetrainData
    /// Each feed's data (the feeds of `configuration.feeds`).
    public let feedData: [String: RetrainData]
    /// The node's name and identity: a pass an earlier run of it left unfinished is given up at once.
    let nodeName: NodeName
    /// Who runs the passes (a node's name, or "winnow retrain").
    public var node: String { nodeName.name }
    public let logger: Logger
    /// Hears each candidate trained, with the active model it is compared with (the simulator measures the gate with it).
    public var inspect: (@Sendable (_ candidate: TextClassifier, _ active: TextClassifier) -> Void)?
    /// The candidate's version name for a pass.
    public var versionName: @Sendable (RetrainPass, Date) -> String = { pass, at in
        "retrain-\(pass.id)@" + ISOTime.format(at).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
    }

    public init(registry: ModelRegistry, configuration: RetrainConfiguration, data: RetrainData? = nil, feedData: [String: RetrainData]? = nil,
                node: NodeName, logger: Logger = Logger(label: "winnow.retrain")) {
        self.registry = registry
        self.configuration = configuration
        self.data = data ?? .files(configuration)
        self.feedData = feedData ?? Dictionary(uniqueKeysWithValues: configuration.feeds.keys.map { ($0, RetrainData.files(configuration, feed: $0)) })
        self.nodeName = node
        self.logger = logger
    }

    var scoring: ScoringService { registry.scoring }
    var store: any Store { registry.scoring.store }

    /// The model `feed`'s items are scored with now (nil: the shared model).
    func serving(_ feed: String?) -> ActiveModel { feed.map(scoring.model(for:)) ?? scoring.model }

    /// The targets of the loop: the shared model, then each feed with a model of its own.
    var targets: [String?] { [nil] + feedData.keys.sorted() }

    /// The targets, the one whose last pass started longest ago first (one that never had a pass before any; ties:
    /// the shared model, then by name): each check starts at most one step, so no target can keep the loop to itself.
    func targetsByWait() async throws -> [String?] {
        var started: [(feed: String?, at: Date, order: Int)] = []
        for (order, feed) in targets.enumerated() {
            started.append((feed, try await store.latestRetrainPass(feed: feed)?.startedAt ?? .distantPast, order))
        }
        return started.sorted { $0.at != $1.at ? $0.at < $1.at : $0.order < $1.order }.map(\.feed)
    }

    /// One check: the first target (by `targetsByWait`) that moves or starts a pass; nil when none did.
    @discardableResult
    public func check() async throws -> RetrainPass? {
        for feed in try await targetsByWait() {
            if let pass = try await tick(feed: feed) { return pass }
        }
        return nil
    }

    /// A step of the loop in the log, with its pass, state and feed.
    func log(_ pass: RetrainPass) {
        logger.info("retraining: \(pass.message)", metadata: ["pass": "\(pass.id)", "state": "\(pass.state.rawValue)", "feed": "\(pass.feed ?? "(shared)")"])
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if let pass = try await check() {
                    log(pass)
                }
            } catch {
                logger.error("the retraining loop failed; it tries again at its next check", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(configuration.checkSeconds * 1000))) }
            } catch {
                return
            }
        }
    }

    /// The newest passes first, of every model or of one.
    public func passes(_ selection: RetrainPass.Selection = .all, limit: Int = 50) async throws -> [RetrainPass] {
        try await store.retrainPasses(selection, limit: limit)
    }

    /// One look at the loop for the shared model, or with `feed` for that feed's own: moves an unfinished pass on
    /// (a lease run out, a shadow ended, an admin's promotion), else starts a pass of this target when one is due (or
    /// `force`: now). Passes run one at a time across targets (one shadow per node). Returns the pass it moved or ran,
    /// nil when nothing happened.
    @discardableResult
    /// - Parameter started: called once a new pass is written (before it trains), so that a caller can say which pass
    ///   it started without waiting for the training.
    public func tick(feed: String? = nil, force: Bool = false, started: (@Sendable (RetrainPass) -> Void)? = nil) async throws -> RetrainPass? {
        if let feed, feedData[feed] == nil {
            throw ValidationError(field: "feed", "feed '\(feed.prefix(64))' is not listed in retrain.feeds, so the loop does not retrain a model of its own for it; list it there")
        }
        let now = scoring.clock()
        let recent = try await store.retrainPasses(.all, limit: 50)
        var busy = false
        for pass in recent where !pass.state.isFinal {
            if let moved = try await advance(pass, now: now) { return moved }
            // A pass training (here or on another node), in shadow or being promoted holds the loop; a candidate
            // waiting for an admin does not: a newer pass of its target replaces it.
            if pass.state != .waiting { busy = true }
        }
        guard !busy else { return nil }
        let latest = try await store.latestRetrainPass(feed: feed)
        guard let trigger = try await due(feed: feed, after: latest, now: now, force: force) else { return nil }
        // Another node may have promoted a model a moment ago (this node would take it over within its sync interval):
        // judged against the model it replaced, the pass would be thrown away as superseded, its label trigger spent.
        _ = try await registry.restoreActive()
        return try await start(feed: feed, after: latest, id: (recent.first?.id ?? 0) + 1, trigger: trigger, now: now, started: started)
    }

    /// Why a new pass is due, or nil.
    func due(feed: String?, after latest: RetrainPass?, now: Date, force: Bool) async throws -> String? {
        if force { return "manual" }
        if configuration.everyHours > 0, now.timeIntervalSince(latest?.startedAt ?? .distantPast) >= configuration.everyHours * 3600 {
            // Nothing new since a pass that came to an outcome: the same data would train the same candidate (outside
            // testing: identical versions were promoted one after another). A failed pass is retried.
            if let latest, latest.state != .failed, try await store.labelCount(after: latest.labelsThrough, feed: feed, atMost: 1) == 0 { return nil }
            return "schedule"
        }
        if configuration.afterLabels > 0 {
            // A feed counts its own labels since its last pass (other feeds' labels, however many, do not hide them).
            // A failed pass used none up: counted from the last pass that came to an outcome, once the failed one is
            // `retryFailedMinutes` old (outside testing: a node killed mid-pass left its labels waiting for as many
            // again).
            var since = latest?.labelsThrough ?? 0
            if let latest, latest.state == .failed {
                guard now.timeIntervalSince(latest.updatedAt) >= configuration.retryFailedMinutes * 60 else { return nil }
                let earlier = try await store.retrainPasses(.model(feed: feed), limit: 50)
                    .first { $0.id < latest.id && $0.state != .failed && $0.state != .training }
                since = earlier?.labelsThrough ?? 0
            }
            let fresh = try await store.labelCount(after: since, feed: feed, atMost: configuration.afterLabels)
            if fresh >= configuration.afterLabels { return "labels" }
        }
        return nil
    }

    /// Saves `pass` if it is still in `expected`; false when another node moved it first. A step (a new state) is
    /// also an event (`retraining.step`), written with it; a renewed lease is not.
    func save(_ pass: RetrainPass, expected: RetrainPass.State) async throws -> Bool {
        let step = pass.state != expected
        let saved = try await store.updateRetrainPass(pass, expected: expected, event: step ? RetrainingEvent(pass: pass) : nil)
        if saved && step {
            scoring.metrics.retrainStep(state: pass.state.rawValue, feed: pass.feed)
            scoring.bell.ring()
        }
        return saved
    }

    /// The pass whose candidate is in shadow now, if one is.
    public func passInShadow() async throws -> RetrainPass? {
        try await store.retrainPasses(.all, limit: 20).first { $0.state == .shadow }
    }

    /// An admin ends a retraining candidate's shadow (`DELETE /v1/models/shadow`): its pass ends refused, nothing is
    /// promoted, and every node stops the shadow at its next sync (the loop put it back within a second before).
    /// Nil when no pass is in shadow.
    public func endShadow(by admin: String) async throws -> RetrainPass? {
        guard var pass = try await passInShadow() else { return nil }
        pass.state = .refused
        pass.updatedAt = scoring.clock()
        // What the candidate did differently so far, on this node, kept with the pass (the shadow slot is emptied
        // after the pass is saved, so that the loop cannot put the candidate back in between).
        if let report = scoring.shadowReport, report.candidate == pass.candidate {
            pass.shadowReport = ShadowSummary(report)
        }
        let figures = pass.shadowReport.map { "after \($0.items) item\($0.items == 1 ? "" : "s") scored in shadow here, \($0.actionDisagreements) with another action" } ?? "before it scored any item here"
        pass.message = "\(pass.candidate ?? "the candidate")'s shadow was ended by \(admin) \(figures): not promoted"
        guard try await save(pass, expected: .shadow) else { return nil }
        log(pass)
        return pass
    }

    /// Moves an unfinished pass on; nil when there is nothing to do yet.
    func advance(_ pass: RetrainPass, now: Date) async throws -> RetrainPass? {
        var next = pass
        next.updatedAt = now
        switch pass.state {
        case .training:
            if nodeName.isEarlierRun(pass.by) {
                // This node restarted mid-pass: the run that trained is dead; its lease would hold the loop for nothing.
                next.state = .failed
                next.message = "abandoned: \(pass.by), an earlier run of this node, stopped before it finished training (the node restarted)"
                return try await save(next, expected: .training) ? next : nil
            }
            guard pass.leaseUntil <= now else { return nil }
            next.state = .failed
            next.message = "abandoned: \(pass.by) did not finish training within its lease (retrain.leaseMinutes \(configuration.leaseMinutes))"
            return try await save(next, expected: .training) ? next : nil
        case .shadow:
            guard let candidate = pass.candidate else { return nil }
            if serving(pass.feed).version == candidate {
                // An admin promoted the candidate before its shadow ended: approved, not superseded.
                next.state = .promoted
                next.message = "promoted \(candidate) by an admin during its shadow"
                if try await save(next, expected: .shadow) { scoring.stopShadow() }
                return next
            }
            if pass.active != serving(pass.feed).version {
                next.state = .superseded
                next.message = "the active model changed to \(serving(pass.feed).version) during the shadow"
                if try await save(next, expected: .shadow) { scoring.stopShadow() }
                return next
            }
            guard let until = pass.shadowUntil, until <= now else {
                if scoring.shadowReport?.candidate != candidate { _ = try await registry.shadow(candidate, feed: pass.feed, byLoop: true) }
                return nil
            }
            let report = scoring.shadowReport?.candidate == candidate ? scoring.stopShadow() : nil
            next.shadowReport = report.map(ShadowSummary.init)
            guard let seen = next.shadowReport, seen.items > 0 else {
                // This process scored no item with the candidate (`winnow retrain` from cron, or a node that served
                // nothing): the shadow's figures are in the memory of the nodes that did, so a person decides.
                next.state = .waiting
                let promote = "waiting for an admin: winnow models promote \(candidate)\(Self.feedOption(pass.feed))"
                next.message = report == nil
                    ? "\(candidate) passed its gate; its shadow ran on the serving nodes (GET /v1/models on each shows what it changed), not here; \(promote)"
                    : "\(candidate) passed its gate, but its shadow here scored no item (a quiet feed, or other nodes served them: GET /v1/models on each); \(promote)"
                return try await save(next, expected: .shadow) ? next : nil
            }
            return try await decide(next, from: .shadow, now: now)
        case .waiting:
            guard let candidate = pass.candidate else { return nil }
            if serving(pass.feed).version == candidate {
                next.state = .promoted
                next.message = "promoted \(candidate) by an admin"
                return try await save(next, expected: .waiting) ? next : nil
            }
            return nil
        case .promoting:
            guard let candidate = pass.candidate else { return nil }
            if serving(pass.feed).version == candidate {
                next.state = .promoted
                next.message = "promoted \(candidate)"
            } else if pass.leaseUntil <= now || nodeName.isEarlierRun(pass.by) {
                next.state = .failed
                next.message = "interrupted: \(pass.by) did not finish promoting \(candidate); winnow models promote \(candidate) makes it active"
            } else {
                return nil
            }
            return try await save(next, expected: .promoting) ? next : nil
        case .promoted, .refused, .failed, .superseded:
            return nil
        }
    }

    /// After the gate (and the shadow, if any): promote, or wait for an admin.
    func decide(_ pass: RetrainPass, from state: RetrainPass.State, now: Date) async throws -> RetrainPass? {
        guard let candidate = pass.candidate else { return nil }
        var next = pass
        next.updatedAt = scoring.clock()
        if pass.active != serving(pass.feed).version {
            // Someone promoted another model while the pass trained: the candidate was judged against a model that no
            // longer serves.
            next.state = .superseded
            next.message = "the active model changed to \(serving(pass.feed).version) while \(candidate) was judged against \(pass.active ?? "-")"
            return try await save(next, expected: state) ? next : nil
        }
        let share = pass.shadowReport?.actionChangeShare ?? 0
        if configuration.promotion == .approve || share > configuration.maxShadowActionChange {
            next.state = .waiting
            next.message = configuration.promotion == .approve
                ? "\(candidate) passed; waiting for an admin: winnow models promote \(candidate)\(Self.feedOption(pass.feed))"
                : String(format: "%@ passed its gate but would have changed %.1f%% of decisions in shadow (more than retrain.maxShadowActionChange %.1f%%); waiting for an admin: winnow models promote %@%@",
                         candidate, share * 100, configuration.maxShadowActionChange * 100, candidate, Self.feedOption(pass.feed))
            return try await save(next, expected: state) ? next : nil
        }
        // The step is taken first (one node wins it), the promotion made, then the pass says so: a reader never sees
        // "promoted" before the model serves.
        next.state = .promoting
        next.leaseUntil = next.updatedAt.addingTimeInterval(120)
        next.message = "promoting \(candidate)"
        guard try await save(next, expected: state) else { return nil }
        var done = next
        do {
            try await registry.promote(candidate, by: "retraining pass \(pass.id) (\(node))", feed: pass.feed)
            done.state = .promoted
            done.message = "promoted \(candidate)"
        } catch {
            done.state = .failed
            done.message = "the promotion of \(candidate) failed: \(error)"
        }
        done.updatedAt = scoring.clock()
        _ = try await save(done, expected: .promoting)
        return done
    }

    /// Takes pass `latest.id + 1` and runs it: train, gate, then shadow or promote. Nil when another node took it.
    func start(feed: String?, after latest: RetrainPass?, id: Int64, trigger: String, now: Date,
               started: (@Sendable (RetrainPass) -> Void)? = nil) async throws -> RetrainPass? {
        let through = try await store.latestLabelID()
        var pass = RetrainPass(id: id, feed: feed, trigger: trigger, by: node, at: now,
                               leaseUntil: now.addingTimeInterval(configuration.leaseMinutes * 60), labelsThrough: through)
        guard try await store.startRetrainPass(pass, event: RetrainingEvent(pass: pass)) else { return nil }
        scoring.metrics.retrainStep(state: "started", feed: feed)
        scoring.bell.ring()
        started?(pass)
        // The lease is renewed while the pass trains (a third of retrain.leaseMinutes, at most every 5 minutes): it
        // runs out only when this node stops, not when training outlasts it (outside testing: a pass longer than its
        // lease was taken for dead while it trained, and a second pass trained beside it).
        let renewal = Task { [pass, configuration, scoring] in
            var held = pass
            let every = max(1, min(configuration.leaseMinutes * 60 / 3, 300))
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int64(every * 1000)))
                if Task.isCancelled { break }
                held.leaseUntil = scoring.clock().addingTimeInterval(configuration.leaseMinutes * 60)
                guard (try? await save(held, expected: .training)) == true else { break }
            }
        }
        do {
            // A node asked to stop (SIGTERM, a graceful shutdown) stops waiting for its training: the pass is recorded
            // as failed at once, so the loop goes on elsewhere (outside testing: a pass left `training` held every
            // feed's loop for its 2-hour lease, and only a restart of the same node on the same port let it go).
            let started = pass
            pass = try await cancelWhenGracefulShutdown { try await self.trainAndGate(started, now: now) }
        } catch is CancellationError {
            renewal.cancel()
            pass.state = .failed
            pass.message = "stopped: \(node) was asked to stop while it trained; a new pass follows after retrain.retryFailedMinutes (\(FixedText.format(configuration.retryFailedMinutes, places: 0)))"
            pass.updatedAt = scoring.clock()
            // Written from a task of its own: this one is cancelled, and the stores refuse work for a cancelled task.
            let stopped = pass
            _ = try await Task { try await self.save(stopped, expected: .training) }.value
            scoring.metrics.retrainStep(state: "failed", feed: feed)
            return pass
        } catch {
            pass.state = .failed
            pass.message = "\(error)"
        }
        renewal.cancel()
        pass.updatedAt = scoring.clock()
        if pass.state == .training, var waiting = latest, waiting.state == .waiting {
            // A newer candidate passed its gate: the one waiting for an admin is replaced (not before: a refused or
            // failed pass leaves it waiting).
            waiting.state = .superseded
            waiting.updatedAt = pass.updatedAt
            waiting.message = "replaced by pass \(pass.id), whose candidate passed its gate"
            _ = try await save(waiting, expected: .waiting)
        }
        if pass.state == .training {
            // Passed the gate.
            if configuration.shadowHours > 0, let candidate = pass.candidate {
                pass.state = .shadow
                pass.shadowUntil = pass.updatedAt.addingTimeInterval(configuration.shadowHours * 3600)
                pass.message = "\(candidate) passed the gate; in shadow until \(ISOTime.format(pass.shadowUntil!))"
                guard try await save(pass, expected: .training) else { return nil }
                _ = try await registry.shadow(candidate, feed: feed, byLoop: true)
                return pass
            }
            var gated = pass
            gated.state = .shadow  // a zero-length shadow: decided at once
            guard try await save(gated, expected: .training) else { return nil }
            return try await decide(gated, from: .shadow, now: now)
        }
        _ = try await save(pass, expected: .training)
        return pass
    }

    /// Labels with their row counts, as a refusal names them: the first five by name, each cut to 64 characters.
    static func named(_ counts: [String: Int]) -> String {
        counts.sorted { $0.key < $1.key }.prefix(5).map { "'\($0.key.prefix(64))' (\($0.value) row\($0.value == 1 ? "" : "s"))" }.joined(separator: ", ")
    }

    /// Trains the candidate and runs the gate. The pass comes back still `training` when the candidate passed (and
    /// is registered), `refused` or `failed` otherwise, with its figures.
    func trainAndGate(_ started: RetrainPass, now: Date) async throws -> RetrainPass {
        var pass = started
        let configuration = self.configuration
        let feed = pass.feed
        let data = feed.flatMap { feedData[$0] } ?? self.data
        let active = serving(feed).textModel
        pass.active = active.header.modelVersion
        let resolved = try await store.resolvedLabels(since: nil).filter { feed == nil || $0.label.feed == feed }
        let auditedItems = try await store.auditedTexts()
        // Items that are only media have no words: both models score them as their class prior.
        let audited = auditedItems.filter { (feed == nil || $0.feed == feed) && !$0.text.isBlank }
            .map { (text: $0.text, label: $0.label, inclusionProbability: $0.inclusionProbability) }
        // Held out by the item, whatever source its counting label has (an audit escalated, appealed or judged again
        // at tier 2 is still a row the gate reads).
        let heldOut = configuration.holdOutAudits ? Set(auditedItems.map { $0.feed + "\u{0}" + $0.itemID }) : []
        let fromStore = resolved.filter { !heldOut.contains($0.label.feed + "\u{0}" + $0.label.itemID) }
            .sorted { ($0.label.id ?? 0) > ($1.label.id ?? 0) }
            .prefix(configuration.maxStoreExamples)
            .compactMap { resolved in resolved.trainingText.map { LabelledText(text: $0, label: configuration.labelMap[resolved.label.label] ?? resolved.label.label, calibrates: false) } }
        // Reading the files is work too: on the training thread, away from the requests.
        let (base, test) = try await onTrainingThread {
            (try data.base(), try data.test())
        }
        pass.storeExamples = fromStore.count
        pass.baseExamples = base.count
        guard !base.isEmpty || !fromStore.isEmpty else {
            pass.state = .failed
            pass.message = "there is nothing to train on: no base data (retrain.baseData\(feed.map { ", or retrain.feeds.\($0).baseData" } ?? "")) and no resolved labels\(feed.map { " of feed \($0)" } ?? "") of stored items (labels of items the store does not hold have no text to train on); configure base data files or resolve some reviews first"
            return pass
        }
        // Test rows of a class the model does not know would be left out of the gate without a word (a typo such as
        // "spamm" took a class's whole recall check away, outside testing): refused before minutes of training.
        let unknown = Dictionary(grouping: test.filter { !active.classes.contains($0.label) }, by: \.label).mapValues(\.count)
        if !unknown.isEmpty {
            pass.state = .failed
            pass.message = "the test data (retrain.testData\(feed.map { " or retrain.feeds.\($0).testData" } ?? "")) has labels the model does not know: \(Self.named(unknown)); its classes are \(active.classes.joined(separator: ", ")). Fix the files or map the labels with retrain.labelMap"
            return pass
        }
        // The same for the training rows: a base file's class the model lacks, or a class of the model no row has,
        // gives a candidate with other classes, which was found only after the minutes of training.
        let trained = Dictionary(grouping: base + fromStore, by: \.label).mapValues(\.count)
        let foreign = trained.filter { !active.classes.contains($0.key) }
        let lacking = active.classes.filter { trained[$0] == nil }
        if !foreign.isEmpty || !lacking.isEmpty {
            let baseSetting = "retrain.baseData\(feed.map { " or retrain.feeds.\($0).baseData" } ?? "")"
            var problems: [String] = []
            if !foreign.isEmpty {
                problems.append("the training rows (\(baseSetting) and the store's labels) have labels the model does not know: \(Self.named(foreign))")
            }
            if !lacking.isEmpty {
                problems.append("no training row is labelled \(lacking.map { "'\($0)'" }.joined(separator: ", ")), so the candidate could not have \(lacking.count == 1 ? "that class" : "those classes")")
            }
            pass.state = .failed
            pass.message = problems.joined(separator: "; ") + "; the model's classes are \(active.classes.joined(separator: ", ")). Fix the files or map the labels with retrain.labelMap"
            return pass
        }
        let version = versionName(pass, now)
        let sources = data.sources + ["store\(feed.map { " feed \($0)" } ?? "") (\(fromStore.count) labels)"]
        let clock = ContinuousClock.now
        let candidate = try await onTrainingThread {
            try TextClassifier.train(base + fromStore, options: configuration.training, modelVersion: version,
                                     parentVersion: active.header.modelVersion, sources: sources, created: now).0
        }
        pass.trainingSeconds = Self.seconds(ContinuousClock.now - clock)
        pass.candidate = version
        inspect?(candidate, active)
        do { try candidate.checkTrained() } catch {
            pass.state = .failed
            pass.message = "the candidate \(version) cannot score: \(error)"
            return pass
        }
        guard candidate.classes == active.classes else {
            pass.state = .failed
            pass.message = "the candidate has the classes \(candidate.classes.joined(separator: ", ")), the active model \(active.classes.joined(separator: ", ")); fix retrain.labelMap or the base data"
            return pass
        }
        let gate = configuration.gate
        var results: [RetrainGateResult] = []
        let verdicts = try await onTrainingThread { () -> [(String, Int, EvaluationGate.Verdict)] in
            var out: [(String, Int, EvaluationGate.Verdict)] = []
            if let onTest = try gate.compare(candidate: candidate, active: active, rows: test.map { (text: $0.text, label: $0.label, weight: 1) }) {
                out.append(("test data", test.count, onTest))
            }
            if let onAudits = try gate.check(candidate: candidate, active: active, audits: audited) { out.append(("audits", audited.count, onAudits)) }
            return out
        }
        for (rows, count, verdict) in verdicts { results.append(RetrainGateResult(rows: rows, count: count, verdict: verdict)) }
        pass.gate = results
        guard !results.isEmpty else {
            pass.state = .failed
            pass.message = "nothing to judge \(version) on: the gate needs at least \(gate.minimumRows) rows (retrain.gate.minimumRows) of test data or of decided blind audits, and has \(test.count) and \(audited.count); give retrain.testData, or wait for more audits"
            return pass
        }
        let failures = verdicts.flatMap { rows, _, verdict in verdict.failures.map { "on \(rows), \($0)" } }
        guard failures.isEmpty else {
            pass.state = .refused
            pass.message = "\(version) refused by the gate: " + failures.joined(separator: "; ")
            return pass
        }
        _ = try await registry.register(try candidate.serialized(), by: "retraining pass \(pass.id) (\(node))")
        pass.message = "\(version) passed the gate"
        return pass
    }

    /// `body` on a training thread as the configuration sets it (threads, niceness, SCHED_IDLE).
    func onTrainingThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await Self.offThePool(threads: configuration.threads, niceness: configuration.niceness, idle: configuration.idleScheduling, body)
    }

    /// ` --feed F` for a feed's pass, "" for the shared model's.
    static func feedOption(_ feed: String?) -> String { feed.map { " --feed \($0)" } ?? "" }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Runs `body` on a thread of its own, away from the threads serving requests: with one thread, every part of
    /// training runs on it in order, at `niceness` (Linux applies nice per thread), so scoring keeps the other cores.
    /// Cancelling the calling task stops the wait (with `CancellationError`), not the thread: its work runs on, and
    /// its result is dropped.
    static func offThePool<T: Sendable>(threads: Int, niceness: Int, idle: Bool, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let waiting = OneAnswer<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiting.wait(continuation)
                if Task.isCancelled { waiting.answer(.failure(CancellationError())); return }
                start()
            }
        } onCancel: {
            waiting.answer(.failure(CancellationError()))
        }

        func start() {
            let thread = Thread {
                #if canImport(Glibc)
                // Linux keeps a nice value and a scheduling policy per thread; 0 names the calling thread.
                if niceness > 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(niceness)) }
                if idle {
                    var parameters = sched_param(sched_priority: 0)
                    _ = sched_setscheduler(0, 5 /* SCHED_IDLE */, &parameters)
                }
                #endif
                waiting.answer(Result { threads == 1 ? try TrainingThreads.serially(body) : try body() })
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
    }
}

/// A continuation resumed by the first of several answers (the work's, or a cancellation's); the others are dropped.
final class OneAnswer<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func wait(_ waiting: CheckedContinuation<T, any Error>) {
        continuation.withLock { $0 = waiting }
    }

    func answer(_ result: Result<T, any Error>) {
        continuation.withLock { $0.take() }?.resume(with: result)
    }
}

extension ModelRegistry {
    /// On every node, at each sync (whether or not it runs the loop): scores its items with the candidate of a pass in
    /// shadow, and stops a retraining candidate's shadow once its pass has left the shadow (promoted, refused, waiting,
    /// superseded). A shadow an admin started by hand is left alone.
    public func followRetrainingShadow() async throws {
        let now = scoring.clock()
        let recent = try await store.retrainPasses(.all, limit: 20)
        let running = scoring.shadowReport?.candidate
        if let pass = recent.first(where: { $0.state == .shadow }), let candidate = pass.candidate, (pass.shadowUntil ?? now) > now {
            if running != candidate { _ = try await shadow(candidate, feed: pass.feed, byLoop: true) }
        } else if let running, scoring.shadowIsTheLoops, recent.contains(where: { $0.candidate == running && $0.state != .shadow }) {
            // Only the shadow the loop started here ends with its pass: an admin's shadow of the same candidate (a
            // waiting one, watched longer before it is promoted) stays until the admin ends it (outside testing: it
            // was dropped within two seconds on every node).
            scoring.stopShadow()
        }
    }
}

extension ShadowSummary {
    /// What a shadow's report keeps with its pass.
    init(_ report: ShadowReport) {
        self.init(items: report.items, actionDisagreements: report.actionDisagreements, labelDisagreements: report.labelDisagreements)
    }
}
