import Foundation
import Learning

/// A submitted value that is wrong, naming the field (JSON path) and what to do.
public struct ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String
    /// True when the value is too large (the HTTP layer's code is `too_large` rather than `invalid_value`).
    public var tooLarge: Bool

    public init(field: String, _ message: String, tooLarge: Bool = false) {
        self.field = field
        self.message = message
        self.tooLarge = tooLarge
    }

    public var description: String { "\(field): \(message)" }

    /// Refuses a NUL character (U+0000) in a stored string: no text needs one, and PostgreSQL's text cannot hold it,
    /// so both stores keep only what either can.
    public static func checkNoNUL(_ value: String, field: String) throws {
        if value.utf8.contains(0) { throw ValidationError(field: field, "contains a NUL character (\\u0000); remove it") }
    }

    /// Refuses what is not a language tag as BCP 47 spells one: subtags of 1 to 8 ASCII letters and digits joined by
    /// hyphens, the first of 2 to 8 letters (`en`, `pt-BR`, `zh-Hant-TW`), at most 35 bytes. Tickets are routed to
    /// reviewers by the tag, so a blank one, `fr_FR` or `english` would have waited for a reviewer naming that very
    /// spelling (outside testing: they were stored). The message says the likely meaning where it can.
    public static func checkLanguageTag(_ tag: String, field: String) throws {
        let subtags = tag.split(separator: "-", omittingEmptySubsequences: false)
        let isAlphanumeric = { (s: Substring) in s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) } }
        let first = subtags[0]
        if tag.utf8.count <= 35, (2...8).contains(first.utf8.count), first.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }),
           subtags.dropFirst().allSatisfy({ (1...8).contains($0.utf8.count) && isAlphanumeric($0) }) {
            return
        }
        // The hint only when what it suggests is a tag ('fr_FR_' would have suggested 'fr-FR-').
        let hyphenated = tag.replacingOccurrences(of: "_", with: "-")
        let hint = tag.contains("_") && (try? checkLanguageTag(hyphenated, field: field)) != nil ? " (subtags are joined by '-': '\(hyphenated)')" : ""
        throw ValidationError(field: field, "give a language tag such as 'en' or 'pt-BR' (BCP 47: letters and digits in subtags joined by '-', at most 35 bytes)\(hint)")
    }

    /// Refuses what cannot be a feed's item id (the rule of `ScoringEngine.validate`, for every other place an item id
    /// comes in: ranks, labels, gold items): 1-256 UTF-8 bytes, not only blanks, without control characters, invisible
    /// ones (bidirectional overrides, zero-width spaces, fillers: Unicode's format and default-ignorable characters) or
    /// noncharacters (outside testing: "abc\u{202E}gpj" showed reviewers and logs an id reading otherwise, and " " and
    /// a lone Hangul filler were items).
    public static func checkItemID(_ id: String, field: String) throws {
        guard isIdentifier(id) else {
            throw ValidationError(field: field, "give the feed's own item id: 1-256 UTF-8 bytes, not only blanks, no control characters and no invisible ones (bidirectional overrides, zero-width spaces, fillers)")
        }
    }

    /// Whether `id` is 1-256 UTF-8 bytes of visible text, as item ids (and the feeds' user ids) must be.
    public static func isIdentifier(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 256, !ScoringEngine.hasControlCharacters(id) else { return false }
        // Most ids are ASCII: blank there is spaces only (other blanks are control characters), and nothing is invisible.
        if id.utf8.allSatisfy({ $0 < 0x80 }) { return id.utf8.contains { $0 != 0x20 } }
        return !id.isBlank && !id.unicodeScalars.contains {
            $0.properties.generalCategory == .format || $0.properties.isDefaultIgnorableCodePoint || $0.properties.isNoncharacterCodePoint
                || $0.value == 0x2800  // Braille's blank pattern: a space in all but name
        }
    }
}

/// The engine's settings; every field has a documented default.
public struct EngineConfiguration: Codable, Equatable, Sendable {
    /// The class that means "nothing wrong"; P(harm) = 1 − P(clear).
    public var clearLabel: String = "clear"
    /// Reasons returned with each score.
    public var reasons: Int = 3
    /// Longest text accepted, in UTF-8 bytes.
    public var maxTextBytes: Int = 10_000
    /// Engagement snapshots kept per item: past it, a new snapshot replaces the newest kept, so an item's history
    /// keeps how it started and where it stands (outside testing: a feed updating one item without end grew its
    /// history, and the answer to GET /v1/items/{id}, without bound). Counters merge as before. Default 1,000.
    public var maxSnapshotsPerItem: Int = 1_000
    public var triggers = EngagementTriggers()
    public var schedule = RescoreSchedule()
    public var rule = EngagementRule()
    public var review = ReviewConfiguration()
    /// How reviewers' removals feed the banks.
    public var banks = BankConfiguration()

    public init() {}
}

/// The text model's answer for one item, as the engine needs it.
public struct TextScore: Sendable, Equatable {
    public var classes: [String]
    public var probabilities: [Double]
    public var evidence: Double
    public var reasons: [Reason]
    public var modelVersion: String

    public init(classes: [String], probabilities: [Double], evidence: Double, reasons: [Reason], modelVersion: String) {
        self.classes = classes
        self.probabilities = probabilities
        self.evidence = evidence
        self.reasons = reasons
        self.modelVersion = modelVersion
    }

    public init(_ prediction: Prediction, classes: [String], modelVersion: String) {
        self.init(classes: classes, probabilities: prediction.probabilities, evidence: prediction.evidence.score,
                  reasons: prediction.reasons, modelVersion: modelVersion)
    }
}

/// The three stages' logic: pure functions from scores, engagement, policy and time to a `StageResult`.
/// Scoring the text and storing the result are the caller's.
public struct ScoringEngine: Sendable {
    public var configuration: EngineConfiguration

    public init(configuration: EngineConfiguration = EngineConfiguration()) {
        self.configuration = configuration
    }

    /// The largest author facts taken: 100 years, ten billion followers, a billion removals.
    public static let maxAccountAgeDays = 36_525.0
    public static let maxFollowers = 10_000_000_000
    public static let maxPriorRemovals = 1_000_000_000

    /// Checks a submission's fields.
    /// - Throws: `ValidationError` naming the first bad field.
    public func validate(_ item: ItemSubmission, receivedAt: Date? = nil) throws {
        try ValidationError.checkItemID(item.id, field: "id")
        guard Policy.isValidFeed(item.feed) else {
            throw ValidationError(field: "feed", PolicyError.invalidFeed(item.feed).description)
        }
        // An item that is only media (a photo without a caption) has no text: it is scored as a text the model knows
        // nothing of (the class prior, evidence 0) and matched against the banks by its media.
        guard !item.text.isBlank || !item.media.isEmpty else {
            throw ValidationError(field: "text", "the item has no text and no media; send its text (or, for a photo or video without words, its media and no text)")
        }
        try ValidationError.checkNoNUL(item.text, field: "text")
        guard item.text.utf8.count <= configuration.maxTextBytes else {
            throw ValidationError(field: "text", "the text is \(item.text.utf8.count) bytes; the limit is \(configuration.maxTextBytes)", tooLarge: true)
        }
        if let createdAt = item.createdAt, let receivedAt,
           createdAt < Date(timeIntervalSince1970: 0) || createdAt > receivedAt.addingTimeInterval(24 * 3600) {
            throw ValidationError(field: "createdAt", "the creation time must be after 1970 and at most a day after now; send the item's real creation time or leave it out")
        }
        if let language = item.language { try ValidationError.checkLanguageTag(language, field: "language") }
        if let author = item.author {
            guard !author.id.isEmpty, author.id.utf8.count <= 256, !Self.hasControlCharacters(author.id) else {
                throw ValidationError(field: "author.id", "give the author's id (1-256 UTF-8 bytes, no control characters)")
            }
            // Bounded by what can be true (outside testing: 2^63 followers lifted a feed's tickets 30× up the shared
            // review queue, whose priority reads the author's reach).
            if let age = author.accountAgeDays, !(age.isFinite && age >= 0 && age <= Self.maxAccountAgeDays) {
                throw ValidationError(field: "author.accountAgeDays", "must be a number of days from 0 to \(Int(Self.maxAccountAgeDays)) (100 years)")
            }
            if let followers = author.followers, !(0...Self.maxFollowers).contains(followers) {
                throw ValidationError(field: "author.followers", "must be from 0 to 10,000,000,000")
            }
            if let removals = author.priorRemovals, !(0...Self.maxPriorRemovals).contains(removals) {
                throw ValidationError(field: "author.priorRemovals", "must be from 0 to 1,000,000,000")
            }
        }
    }

    /// Control characters (C0, DEL, C1) in `s`; ASCII-only strings are checked byte by byte.
    public static func hasControlCharacters(_ s: String) -> Bool {
        if s.utf8.allSatisfy({ $0 < 0x80 }) { return s.utf8.contains { $0 < 0x20 || $0 == 0x7F } }
        return s.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// The largest engagement counter accepted (far above any real item; keeps sums and rates finite).
    public static let maxCounter = 1_000_000_000_000_000

    /// How far ahead of this server's clock an engagement time may be (the feed's clock may run a little fast; a
    /// time further ahead would hold the item's latest snapshot there and age it early).
    public static let engagementClockSkew: TimeInterval = 300

    /// Checks an engagement update: counters in 0…`maxCounter`, a time after 1970 and at most
    /// `engagementClockSkew` after `now`.
    public func validate(_ e: Engagement, at: Date? = nil, now: Date? = nil) throws {
        for (name, value) in [("views", e.views), ("likes", e.likes), ("shares", e.shares), ("comments", e.comments), ("reports", e.reports), ("hides", e.hides)] {
            guard value >= 0 else { throw ValidationError(field: name, "counters are cumulative totals and cannot be negative") }
            guard value <= Self.maxCounter else { throw ValidationError(field: name, "\(value) is beyond any real count; the limit is \(Self.maxCounter)") }
        }
        if let at, let now { try Self.checkFeedTime(at, now: now, what: "the time the counters were read") }
    }

    /// Checks a time a feed stamped an event with (counters read, a report made): after 1970 and at most
    /// `engagementClockSkew` after `now`.
    /// - Throws: `ValidationError` naming `at`, saying what `what` must be.
    public static func checkFeedTime(_ at: Date, now: Date, what: String) throws {
        guard at >= Date(timeIntervalSince1970: 0), at <= now.addingTimeInterval(engagementClockSkew) else {
            throw ValidationError(field: "at", "\(what) must be after 1970 and at most \(Int(engagementClockSkew / 60)) minutes after now (\(ISOTime.format(now))); send the real time or leave it out")
        }
    }

    func harm(_ probabilities: [Double], classes: [String]) -> Double {
        guard let clear = classes.firstIndex(of: configuration.clearLabel) else { return 0 }
        return min(1, max(0, 1 - probabilities[clear]))
    }

    /// Stage 1: the text model's answer under the feed's policy.
    public func creation(_ item: ItemSubmission, text: TextScore, policy: Policy, receivedAt: Date) -> StageResult {
        let ageHours = receivedAt.timeIntervalSince(item.creationTime(receivedAt: receivedAt)) / 3600
        let inputs = StageInputs(trigger: "created", ageHours: ageHours, author: item.author)
        return finish(stage: .creation, text: text, probabilities: text.probabilities, policy: policy, engagement: Engagement(),
                      ageHours: ageHours, inputs: inputs, viral: false, at: receivedAt, previous: nil)
    }

    /// A stage's result under a bank match: the match is recorded, and the decision becomes the bank's action on the
    /// bank's label unless the feed's policy already acts more severely (a copy of something people removed is
    /// removed; a `review` bank sends to review what the model would allow, and never softens what the policy
    /// removes). The classifier's probabilities stay as they were, for the record and for the audits.
    public func applying(_ match: BankMatch, to result: StageResult) -> StageResult {
        var out = result
        out.match = match
        guard match.action >= result.decision.action else { return out }
        out.decision = PolicyDecision(action: match.action, label: match.label, probability: result.probabilities[match.label],
                                      policyVersion: result.decision.policyVersion, reason: "matched \(match.summary)")
        out.priority = match.action == .review ? (result.priority ?? .normal) : nil
        return out
    }

    /// Stages 2 and 3: the text model's answer moved by engagement (the learned model when given, the Bayesian
    /// rule otherwise), under the feed's policy; viral and uncertain items go to review with high priority.
    /// Age and velocity are measured at `asOf` (the engagement's time; `now` when nil); the result is dated `now`.
    /// `keepingMatch`: whether a bank match made at creation still holds (its entry is still banked); when it does not,
    /// the stage decides by the policy alone again.
    public func rescore(stage: Stage, trigger: String, state: ItemState, engagement snapshot: EngagementSnapshot?, text: TextScore,
                        policy: Policy, baseline: FeedBaseline, engagementModel: EngagementModel?, asOf: Date? = nil, now: Date,
                        keepingMatch: Bool = true) -> StageResult {
        let rule = configuration.rule
        let counters = snapshot?.counters ?? Engagement()
        let ageHours = max(0, (asOf ?? now).timeIntervalSince(state.createdAt) / 3600)
        let textHarm = harm(text.probabilities, classes: text.classes)
        let velocity = EngagementRule.velocity(views: counters.views, ageHours: ageHours)
        let baselineVelocity = rule.baselineVelocity(baseline)
        let reportRate = baseline.reportRate(prior: rule.defaultReportRate, priorViews: 10_000)
        let harmAfter: Double
        let modelName: String
        if let engagementModel {
            harmAfter = engagementModel.probability(engagementFeatures(text: text, state: state, counters: counters, asOf: asOf ?? now, baseline: baseline))
            modelName = engagementModel.version
        } else {
            let factor = rule.bayesFactor(reports: counters.reports, views: counters.views, baselineRate: reportRate)
            harmAfter = EngagementRule.posterior(prior: textHarm, oddsRatio: factor)
            modelName = EngagementRule.name
        }
        let odds = { (p: Double) -> Double in let q = min(max(p, 1e-9), 1 - 1e-9); return q / (1 - q) }
        let viral = rule.isViral(views: counters.views, velocity: velocity, baseline: baselineVelocity)
        let inputs = StageInputs(trigger: trigger, ageHours: ageHours, engagement: counters, velocity: velocity, baselineVelocity: baselineVelocity,
                                 viral: viral, baselineReportRate: reportRate, engagementOddsRatio: odds(harmAfter) / odds(textHarm),
                                 engagementModel: modelName, author: state.submission.author)
        let probabilities = move(text.probabilities, classes: text.classes, from: textHarm, to: harmAfter)
        let result = finish(stage: stage, text: text, probabilities: probabilities, policy: policy, engagement: counters, ageHours: ageHours,
                            inputs: inputs, viral: viral, at: now, previous: state.current)
        // A bank match made at creation holds at every later automatic stage, while its entry is banked.
        guard keepingMatch, let match = state.current.match else { return result }
        var matched = applying(match, to: result)
        matched.changed = matched.describeChange(from: state.current)
        return matched
    }

    /// The engagement model's features for an item with `counters` read at `asOf`: what stages 2 and 3 feed the
    /// model, and what training must compute the same way.
    public func engagementFeatures(text: TextScore, state: ItemState, counters: Engagement, asOf: Date, baseline: FeedBaseline) -> [Double] {
        EngagementFeatures.vector(textHarm: harm(text.probabilities, classes: text.classes), engagement: counters,
                                  ageHours: max(0, asOf.timeIntervalSince(state.createdAt) / 3600),
                                  baselineVelocity: configuration.rule.baselineVelocity(baseline), author: state.submission.author)
    }

    /// Rescales class probabilities so that P(harm) goes from `before` to `after`, keeping the harmful classes'
    /// shares among themselves.
    func move(_ p: [Double], classes: [String], from before: Double, to after: Double) -> [Double] {
        guard let clear = classes.firstIndex(of: configuration.clearLabel), p.count > 1 else { return p }
        var out = p
        let others = p.count - 1
        for i in p.indices {
            if i == clear { out[i] = 1 - after } else { out[i] = before > 1e-12 ? p[i] * after / before : after / Double(others) }
        }
        return out
    }

    private func finish(stage: Stage, text: TextScore, probabilities: [Double], policy: Policy, engagement: Engagement, ageHours: Double,
                        inputs: StageInputs, viral: Bool, at: Date, previous: StageResult?) -> StageResult {
        var decision = policy.decide(classes: text.classes, probabilities: probabilities, evidence: text.evidence,
                                     engagementRaisedHarm: (inputs.engagementOddsRatio ?? 1) > 1, clearLabel: configuration.clearLabel)
        let harmNow = harm(probabilities, classes: text.classes)
        var priority: ReviewPriority? = decision.action == .review ? .normal : nil
        if viral && configuration.rule.isUncertain(harmNow) && decision.action != .remove {
            if decision.action != .review {
                decision = PolicyDecision(action: .review, label: decision.label, probability: decision.probability, policyVersion: decision.policyVersion,
                                          reason: "viral and uncertain: P(harm) \(FixedText.format(harmNow, places: 2)) at \(FixedText.format(inputs.velocity ?? 0, places: 0)) views/h, \(FixedText.format((inputs.velocity ?? 0) / max(inputs.baselineVelocity ?? 1, 1), places: 0))× the feed's usual; a person decides")
            }
            priority = .high
        }
        var best = 0
        for i in probabilities.indices where probabilities[i] > probabilities[best] { best = i }
        let quality = 1 - harmNow
        let relevance = Relevance.score(quality: quality, engagement: engagement, ageHours: ageHours, profile: policy.relevance)
        var byClass: [String: Double] = [:]
        for (i, name) in text.classes.enumerated() { byClass[name] = probabilities[i] }
        var result = StageResult(stage: stage, scoredAt: at, modelVersion: text.modelVersion, probabilities: byClass, label: text.classes[best],
                                 evidence: text.evidence, decision: decision, priority: priority, reasons: text.reasons, relevance: relevance,
                                 inputs: inputs)
        if let previous { result.changed = result.describeChange(from: previous) }
        return result
    }

    /// Relevance of a stored item now, from its current quality and latest engagement.
    public func relevance(of state: ItemState, profile: RelevanceProfile, now: Date) -> RelevanceScore {
        let quality = state.current.probabilities[configuration.clearLabel] ?? state.current.relevance.quality
        let ageHours = max(0, now.timeIntervalSince(state.createdAt) / 3600)
        return Relevance.score(quality: quality, engagement: state.engagement?.counters ?? Engagement(), ageHours: ageHours, profile: profile)
    }
}
