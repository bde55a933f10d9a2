import Foundation
import Learning

/// What happens to an item, from least to most severe.
public enum Action: String, Codable, CaseIterable, Sendable, Comparable {
    case allow, demote, review, remove

    var severity: Int {
        switch self {
        case .allow: return 0
        case .demote: return 1
        case .review: return 2
        case .remove: return 3
        }
    }

    public static func < (a: Action, b: Action) -> Bool { a.severity < b.severity }
}

/// Cut-offs on one class's calibrated probability. Each is optional; when present they must rise
/// (demote ≤ review ≤ remove): at or above `remove` the item is removed, at or above `review` it goes to a person,
/// at or above `demote` it is demoted.
public struct ClassRule: Codable, Equatable, Sendable {
    public var demote: Double?
    public var review: Double?
    public var remove: Double?

    public init(demote: Double? = nil, review: Double? = nil, remove: Double? = nil) {
        self.demote = demote
        self.review = review
        self.remove = remove
    }

    /// A cut-off given as `-0` reads as 0 (it would otherwise be stored and echoed as `-0`).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func cutOff(_ key: CodingKeys) throws -> Double? { try container.decodeIfPresent(Double.self, forKey: key).map { $0 + 0 } }
        self.init(demote: try cutOff(.demote), review: try cutOff(.review), remove: try cutOff(.remove))
    }

    /// The action this rule takes at probability `p`.
    public func action(at p: Double) -> Action {
        if let remove, p >= remove { return .remove }
        if let review, p >= review { return .review }
        if let demote, p >= demote { return .demote }
        return .allow
    }
}

/// A problem with a policy, saying which value is wrong and how to fix it.
public enum PolicyError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A cut-off outside 0…1.
    case thresholdOutOfRange(label: String, cutOff: String, value: Double)
    /// Cut-offs that do not rise from demote to review to remove.
    case thresholdsOutOfOrder(label: String)
    /// A feed name that is empty or not [a-z0-9_-].
    case invalidFeed(String)
    /// A relevance weight or half-life out of range.
    case invalidRelevance(field: String, value: Double)
    /// A model class named like the `harm` rule key, which would make a rule for it ambiguous.
    case reservedClass(String)

    public var description: String {
        switch self {
        case let .thresholdOutOfRange(label, cutOff, value):
            return "The \(cutOff) cut-off for '\(label)' is \(value); give a probability between 0 and 1."
        case let .thresholdsOutOfOrder(label):
            return "The cut-offs for '\(label)' must rise from demote to review to remove; reorder them."
        case let .invalidRelevance(field, value):
            return "relevance.\(field) is \(value), out of range: qualityWeight and engagementWeight are 0-10, halfLifeHours 1/60 (a minute) to 87600 (ten years), z 0.01-10."
        case let .invalidFeed(feed):
            return "Invalid feed name '\(feed)': use 1-64 characters from a-z, 0-9, '-' and '_'."
        case let .reservedClass(name):
            return "The model has a class named '\(name)', which policies reserve for the rule over every harmful class together; "
                + "retrain with --label-map \(name)=NAME (another name, for example harmful)."
        }
    }
}

/// The result of applying a policy to one item's scores.
public struct PolicyDecision: Codable, Equatable, Sendable {
    public var action: Action
    /// The class whose rule decided, nil when the item is allowed.
    public var label: String?
    public var probability: Double?
    public var policyVersion: Int
    /// A sentence for the item's history.
    public var reason: String

    public init(action: Action, label: String?, probability: Double?, policyVersion: Int, reason: String) {
        self.action = action
        self.label = label
        self.probability = probability
        self.policyVersion = policyVersion
        self.reason = reason
    }
}

/// A feed's moderation policy: per-class cut-offs on calibrated probabilities, versioned data.
///
/// Every class with a rule is checked; the most severe action wins (ties go to the higher probability). A rule under
/// the key `harm` (`Policy.harm`) acts on P(harm) = 1 − P(clear), every class but the clear one together, and names
/// the most probable harmful class: for feeds that act alike on all harm, and for classes a model confuses with
/// each other (offensive against abusive) but rarely with clear.
/// Classes without a rule (such as `clear`) never act, and neither does the class prior of an item the model knew
/// no word of (evidence 0) until engagement raises it. With `reviewThinRemovals`, an automatic removal of a text
/// whose evidence is thin (the model knew too few of its words) becomes a review: a person decides instead.
public struct Policy: Codable, Equatable, Sendable {
    public var feed: String
    public var version: Int
    public var rules: [String: ClassRule]
    public var reviewThinRemovals: Bool
    /// How the feed ranks what survives (`POST /v1/rank`).
    public var relevance: RelevanceProfile

    public init(feed: String, version: Int = 1, rules: [String: ClassRule], reviewThinRemovals: Bool = true,
                relevance: RelevanceProfile = RelevanceProfile()) {
        self.feed = feed
        self.version = version
        self.rules = rules
        self.reviewThinRemovals = reviewThinRemovals
        self.relevance = relevance
    }

    private enum CodingKeys: String, CodingKey { case feed, version, rules, reviewThinRemovals, relevance }

    /// Only `rules` is required; `feed` and `version` default to "default" and 0 (the store assigns versions).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        feed = try c.decodeIfPresent(String.self, forKey: .feed) ?? "default"
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 0
        rules = try c.decode([String: ClassRule].self, forKey: .rules)
        reviewThinRemovals = try c.decodeIfPresent(Bool.self, forKey: .reviewThinRemovals) ?? true
        relevance = try c.decodeIfPresent(RelevanceProfile.self, forKey: .relevance) ?? RelevanceProfile()
    }

    /// A starting policy for a model's classes: every class but `clear` demotes at 0.5, goes to review at 0.7
    /// and is removed at 0.97 — a wide review band until `winnow policy suggest` has labelled data to solve it.
    public static func standard(feed: String, classes: [String], clearLabel: String = "clear") -> Policy {
        var rules: [String: ClassRule] = [:]
        for label in classes where label != clearLabel { rules[label] = ClassRule(demote: 0.5, review: 0.7, remove: 0.97) }
        return Policy(feed: feed, rules: rules)
    }

    /// Why `label` cannot be what a rule or a bank acts on: nil when it is one of the model's `classes`, or `harm`
    /// (every class but `clearLabel` together).
    public static func unknownLabel(_ label: String, classes: [String], clearLabel: String) -> String? {
        guard !classes.contains(label), !(label == harm && classes.contains(clearLabel)) else { return nil }
        return "the model has no class '\(label)'; its classes are \(classes.joined(separator: ", ")) (or '\(harm)': every class but \(clearLabel) together)"
    }

    /// Why a policy cannot have a rule under `key`: a class the model does not have (`unknownLabel`), or the clear
    /// class, whose rule would demote, review or remove posts for being harmless (outside testing: `{"clear":
    /// {"remove": 0.9}}` was accepted and removed benign posts). Nil when it can.
    public static func unusableRule(_ key: String, classes: [String], clearLabel: String) -> String? {
        if let unknown = unknownLabel(key, classes: classes, clearLabel: clearLabel) { return unknown }
        guard key != clearLabel else {
            return "a rule on '\(clearLabel)' (nothing wrong) would act on posts for being harmless; rules name a harmful class, or '\(harm)' for every harmful class together"
        }
        return nil
    }

    /// - Throws: `PolicyError` naming the first bad value.
    public func validate() throws {
        guard Policy.isValidFeed(feed) else { throw PolicyError.invalidFeed(feed) }
        try relevance.validate()
        for (label, rule) in rules.sorted(by: { $0.key < $1.key }) {
            let cutOffs: [(String, Double?)] = [("demote", rule.demote), ("review", rule.review), ("remove", rule.remove)]
            for (name, value) in cutOffs {
                if let value, !(value.isFinite && (0...1).contains(value)) {
                    throw PolicyError.thresholdOutOfRange(label: label, cutOff: name, value: value)
                }
            }
            let present = cutOffs.compactMap(\.1)
            guard present == present.sorted() else { throw PolicyError.thresholdsOutOfOrder(label: label) }
        }
    }

    /// What `self` changes against `current`, one line per change ("spam: remove 0.97 → 0.9", "harm: rule removed"),
    /// in a stable order; empty when they act alike (versions and feeds aside).
    public func changes(from current: Policy) -> [String] {
        func cut(_ v: Double?) -> String { v.map { "\($0)" } ?? "none" }
        var lines: [String] = []
        for label in Set(current.rules.keys).union(rules.keys).sorted() {
            switch (current.rules[label], rules[label]) {
            case let (nil, new?):
                lines.append("\(label): rule added (demote \(cut(new.demote)), review \(cut(new.review)), remove \(cut(new.remove)))")
            case (_?, nil):
                lines.append("\(label): rule removed (the class will never act)")
            case let (old?, new?):
                for (name, a, b) in [("demote", old.demote, new.demote), ("review", old.review, new.review), ("remove", old.remove, new.remove)] where a != b {
                    lines.append("\(label): \(name) \(cut(a)) → \(cut(b))")
                }
            default: break
            }
        }
        if current.reviewThinRemovals != reviewThinRemovals {
            lines.append("reviewThinRemovals: \(current.reviewThinRemovals) → \(reviewThinRemovals)")
        }
        let a = current.relevance, b = relevance
        for (name, x, y) in [("qualityWeight", a.qualityWeight, b.qualityWeight), ("engagementWeight", a.engagementWeight, b.engagementWeight),
                             ("halfLifeHours", a.halfLifeHours, b.halfLifeHours), ("z", a.z, b.z)] where x != y {
            lines.append("relevance.\(name): \(x) → \(y)")
        }
        return lines
    }

    /// 1-64 characters from a-z, 0-9, '-' and '_'.
    public static func isValidFeed(_ feed: String) -> Bool {
        (1...64).contains(feed.utf8.count) && feed.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }

    /// The rule key that acts on P(harm) = 1 − P(clear) instead of one class's probability.
    public static let harm = "harm"

    /// Refuses model classes that policies could not address unambiguously (a class named `harm`).
    /// - Throws: `PolicyError.reservedClass`.
    public static func checkClasses(_ classes: [String]) throws {
        if classes.contains(harm) { throw PolicyError.reservedClass(harm) }
    }

    /// The probability a rule reads and the class it names: its own class, or for the `harm` rule, P(harm) and the
    /// most probable harmful class (ties to the first by name). Nil when the model has no such class.
    public static func reading(rule key: String, classes: [String], probabilities: [Double], clearLabel: String) -> (label: String, p: Double)? {
        guard key == harm else {
            guard let index = classes.firstIndex(of: key), index < probabilities.count else { return nil }
            return (key, probabilities[index])
        }
        guard let clear = classes.firstIndex(of: clearLabel), clear < probabilities.count,
              let top = mostProbableHarmful(classes: classes, probabilities: probabilities, clearLabel: clearLabel) else { return nil }
        return (classes[top], min(1, max(0, 1 - probabilities[clear])))
    }

    /// The index of the most probable class other than `clearLabel` (ties to the first by name); nil when there is none.
    public static func mostProbableHarmful(classes: [String], probabilities: [Double], clearLabel: String) -> Int? {
        var top: Int?
        for i in classes.indices where classes[i] != clearLabel && i < probabilities.count {
            if top == nil || probabilities[i] > probabilities[top!] || (probabilities[i] == probabilities[top!] && classes[i] < classes[top!]) { top = i }
        }
        return top
    }

    /// Decides for one item from its calibrated class probabilities (in `classes` order) and evidence (0…1).
    ///
    /// With evidence 0 (the model knew none of the item's words, or it has none: a photo without a caption) the
    /// probabilities are the class prior, the same for every such item, so they decide nothing: the item is allowed
    /// until something else speaks, a bank match or engagement that raised P(harm) (`engagementRaisedHarm`).
    public func decide(classes: [String], probabilities: [Double], evidence: Double, engagementRaisedHarm: Bool = false,
                       clearLabel: String = "clear") -> PolicyDecision {
        if evidence <= 0 && !engagementRaisedHarm {
            return PolicyDecision(action: .allow, label: nil, probability: nil, policyVersion: version,
                                  reason: "the model knew none of the item's words (evidence 0): its scores are the class prior, which decides nothing until reports or a bank do")
        }
        // The strictest action wins, then the higher probability, then the rule key first by name (so the answer
        // does not depend on the dictionary's order, without sorting the rules for every item).
        var best: (action: Action, label: String, p: Double, rule: String)?
        for (key, rule) in rules {
            guard let (label, p) = Self.reading(rule: key, classes: classes, probabilities: probabilities, clearLabel: clearLabel) else { continue }
            let action = rule.action(at: p)
            guard action != .allow else { continue }
            if let current = best, current.action > action || (current.action == action && (current.p > p || (current.p == p && current.rule < key))) {
                continue
            }
            best = (action, label, p, key)
        }
        guard let best else {
            return PolicyDecision(action: .allow, label: nil, probability: nil, policyVersion: version, reason: "no class reached a cut-off")
        }
        let p = FixedText.format(best.p, places: 3)
        let formatted = best.rule == Self.harm ? "harm \(p) (most probably \(best.label))" : "\(best.label) \(p)"
        if best.action == .remove && reviewThinRemovals && evidence < 1 {
            return PolicyDecision(
                action: .review, label: best.label, probability: best.p, policyVersion: version,
                reason: "\(formatted) reached the remove cut-off, but the evidence is thin (\(FixedText.format(evidence, places: 2))): a person decides")
        }
        let cutOff: Double? = {
            switch best.action {
            case .remove: return rules[best.rule]?.remove
            case .review: return rules[best.rule]?.review
            case .demote: return rules[best.rule]?.demote
            case .allow: return nil
            }
        }()
        return PolicyDecision(
            action: best.action, label: best.label, probability: best.p, policyVersion: version,
            reason: "\(formatted) ≥ \(best.action.rawValue) cut-off \(cutOff.map { FixedText.format($0, places: 3) } ?? "-")")
    }
}
