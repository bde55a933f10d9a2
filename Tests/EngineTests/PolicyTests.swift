import Foundation
import Testing

@testable import Engine

struct PolicyTests {
    static let policy = Policy(
        feed: "news", version: 3,
        rules: ["spam": ClassRule(demote: 0.5, review: 0.7, remove: 0.97), "abusive": ClassRule(review: 0.4, remove: 0.9)])
    static let classes = ["abusive", "clear", "spam"]

    @Test(arguments: [
        ([0.05, 0.9, 0.05], 1.0, Action.allow, nil as String?),
        ([0.1, 0.3, 0.6], 1.0, .demote, "spam"),
        ([0.45, 0.1, 0.45], 1.0, .review, "abusive"),  // abusive review beats spam below its demote cut-off
        ([0.01, 0.01, 0.98], 1.0, .remove, "spam"),
        ([0.01, 0.01, 0.98], 0.5, .review, "spam"),  // thin evidence: a person decides
        ([0.92, 0.0, 0.08], 1.0, .remove, "abusive"),
        ([0.3, 0.0, 0.7], 1.0, .review, "spam"),  // cut-offs are inclusive
    ])
    func decisionsFollowTheCutOffs(_ p: [Double], _ evidence: Double, _ action: Action, _ label: String?) {
        let d = Self.policy.decide(classes: Self.classes, probabilities: p, evidence: evidence)
        #expect(d.action == action)
        #expect(d.label == label)
        #expect(d.policyVersion == 3)
    }

    /// Outside testing: relevance weights of 1e308 were taken, and ranked every item 0. Each field has a range; its
    /// ends are accepted, a step past either is refused naming the field.
    @Test(arguments: [("qualityWeight", 0.0, 10.0), ("engagementWeight", 0.0, 10.0), ("halfLifeHours", 1.0 / 60, 87_600.0), ("z", 0.01, 10.0)] as [(String, Double, Double)])
    func relevanceFieldsHaveRanges(_ field: String, _ low: Double, _ high: Double) throws {
        func profile(_ value: Double) -> RelevanceProfile {
            var p = RelevanceProfile()
            switch field {
            case "qualityWeight": p.qualityWeight = value
            case "engagementWeight": p.engagementWeight = value
            case "halfLifeHours": p.halfLifeHours = value
            default: p.z = value
            }
            return p
        }
        try profile(low).validate()
        try profile(high).validate()
        for bad in [low.nextDown, high * 1.001, 1e308, .nan, -.infinity] {
            let error = #expect(throws: PolicyError.self) { try profile(bad).validate() }
            guard case let .invalidRelevance(named, value)? = error else { Issue.record("\(field) \(bad): \(String(describing: error))"); continue }
            #expect(named == field && (value == bad || value.isNaN && bad.isNaN))
            #expect(error?.description.hasPrefix("relevance.\(field) is ") == true)
        }
    }

    @Test func aNegativeZeroCutOffReadsAsZero() throws {
        let rule = try JSONDecoder().decode(ClassRule.self, from: Data(#"{"demote": -0, "review": 0.7}"#.utf8))
        #expect(rule.demote?.sign == .plus)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(String(decoding: try encoder.encode(rule), as: UTF8.self) == #"{"demote":0,"review":0.7}"#)
    }

    @Test func theHigherProbabilityWinsATie() {
        let policy = Policy(feed: "f", rules: ["a": ClassRule(review: 0.3), "b": ClassRule(review: 0.3)])
        let d = policy.decide(classes: ["a", "b", "clear"], probabilities: [0.35, 0.45, 0.2], evidence: 1)
        #expect(d.label == "b")
        #expect(d.reason == "b 0.450 ≥ review cut-off 0.300")
    }

    @Test func thinRemovalsCanBeLeftToAutomation() {
        var policy = Self.policy
        policy.reviewThinRemovals = false
        #expect(policy.decide(classes: Self.classes, probabilities: [0.01, 0.01, 0.98], evidence: 0.5).action == .remove)
        policy.reviewThinRemovals = true
        #expect(policy.decide(classes: Self.classes, probabilities: [0.01, 0.01, 0.98], evidence: 0.5).action == .review)
    }

    /// Evidence 0 leaves only the class prior, the same for every item the model knew no word of (a photo without a
    /// caption, a language it never saw): no rule acts on it until engagement raises P(harm).
    @Test func thePriorAloneDecidesNothing() {
        let prior = [0.1, 0.2, 0.7]
        let quiet = Self.policy.decide(classes: Self.classes, probabilities: prior, evidence: 0)
        #expect(quiet.action == .allow && quiet.label == nil && quiet.probability == nil)
        #expect(quiet.reason.contains("evidence 0"), "\(quiet.reason)")
        // The same scores with a word known, or raised by reports, act.
        #expect(Self.policy.decide(classes: Self.classes, probabilities: prior, evidence: 0.5).action != .allow)
        #expect(Self.policy.decide(classes: Self.classes, probabilities: prior, evidence: 0, engagementRaisedHarm: true).action != .allow)
    }

    @Test func validationNamesTheBadValue() {
        #expect(throws: PolicyError.thresholdOutOfRange(label: "spam", cutOff: "remove", value: 1.5)) {
            try Policy(feed: "f", rules: ["spam": ClassRule(remove: 1.5)]).validate()
        }
        #expect(throws: PolicyError.thresholdsOutOfOrder(label: "spam")) {
            try Policy(feed: "f", rules: ["spam": ClassRule(demote: 0.8, review: 0.6)]).validate()
        }
        #expect(throws: PolicyError.invalidFeed("My Feed")) { try Policy(feed: "My Feed", rules: [:]).validate() }
        #expect("\(PolicyError.thresholdsOutOfOrder(label: "spam"))" == "The cut-offs for 'spam' must rise from demote to review to remove; reorder them.")
    }

    @Test func theStandardPolicyLeavesClearAlone() throws {
        let policy = Policy.standard(feed: "default", classes: ["abusive", "clear", "spam"])
        try policy.validate()
        #expect(policy.rules.keys.sorted() == ["abusive", "spam"])
        #expect(policy.decide(classes: ["abusive", "clear", "spam"], probabilities: [0, 1, 0], evidence: 1).action == .allow)
    }
}

/// Ten scored examples, worked by hand (see each case).
/// What `winnow policy set` shows before storing (issue 18: policy suggest had no way to apply what it suggested).
struct PolicyChangesTests {
    @Test func everyChangeIsOneLineAndEqualPoliciesHaveNone() {
        let current = Policy(feed: "news", version: 3, rules: ["spam": ClassRule(demote: 0.5, review: 0.7, remove: 0.97),
                                                              "offensive": ClassRule(review: 0.8)])
        #expect(current.changes(from: current).isEmpty)
        var proposed = Policy(feed: "other", version: 9, rules: ["spam": ClassRule(demote: 0.5, review: 0.6, remove: 0.9),
                                                                "harm": ClassRule(remove: 0.99)], reviewThinRemovals: false)
        proposed.relevance.halfLifeHours = current.relevance.halfLifeHours * 2
        #expect(proposed.changes(from: current) == [
            "harm: rule added (demote none, review none, remove 0.99)",
            "offensive: rule removed (the class will never act)",
            "spam: review 0.7 → 0.6",
            "spam: remove 0.97 → 0.9",
            "reviewThinRemovals: true → false",
            "relevance.halfLifeHours: \(current.relevance.halfLifeHours) → \(current.relevance.halfLifeHours * 2)",
        ])
    }
}

struct ThresholdSuggestionTests {
    static let scores = [0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]
    static let positive = [true, true, true, false, true, false, false, true, false, false]

    @Test func atThreeQuartersPrecision() {
        // Acting from 0.7 down: 4 of 5 right (0.8); from 0.6: 4 of 6. Below 0.7: 1 positive in 5 (0.8 clean).
        let s = ThresholdSuggestion.solve(label: "spam", scores: Self.scores, positive: Self.positive, targetPrecision: 0.75)
        #expect(s.remove == 0.7)
        #expect(s.precision == 0.8)
        #expect(s.recall == 0.8)
        #expect(s.allowBelow == 0.7)
        #expect(s.missRate == 0.2)
        #expect(s.removeShare == 0.5 && s.reviewShare == 0 && s.allowShare == 0.5)
    }

    @Test func atNinetyPercentPrecision() {
        // Only the top three are all right; below 0.3 nothing is missed, above it the miss rate passes 10%.
        let s = ThresholdSuggestion.solve(label: "spam", scores: Self.scores, positive: Self.positive, targetPrecision: 0.9)
        #expect(s.remove == 0.9)
        #expect(s.precision == 1)
        #expect(abs(s.recall! - 0.6) < 1e-12)
        #expect(s.allowBelow == 0.3)
        #expect(s.missRate == 0)
        #expect(abs(s.removeShare - 0.3) < 1e-12 && abs(s.reviewShare - 0.5) < 1e-12 && abs(s.allowShare - 0.2) < 1e-12)
    }

    @Test func anUnreachableTargetRemovesNothing() {
        let s = ThresholdSuggestion.solve(label: "spam", scores: [0.9, 0.8], positive: [false, true], targetPrecision: 0.99)
        #expect(s.remove == nil)
        #expect(s.removeShare == 0)
    }
}

struct HarmRuleTests {
    static let classes = ["abusive", "clear", "offensive"]
    static let policy = Policy(feed: "f", rules: [Policy.harm: ClassRule(demote: 0.5, review: 0.7, remove: 0.97)])

    @Test func theHarmRuleReadsEveryHarmfulClassTogether() {
        // Neither harmful class reaches 0.97 alone, but P(harm) = 1 − 0.01 = 0.99 does; the item is most probably offensive.
        let d = Self.policy.decide(classes: Self.classes, probabilities: [0.40, 0.01, 0.59], evidence: 1)
        #expect(d.action == .remove)
        #expect(d.label == "offensive")
        #expect(abs(d.probability! - 0.99) < 1e-12)
        #expect(d.reason == "harm 0.990 (most probably offensive) ≥ remove cut-off 0.970")
        #expect(Self.policy.decide(classes: Self.classes, probabilities: [0.2, 0.6, 0.2], evidence: 1).action == .allow)
        #expect(Self.policy.decide(classes: Self.classes, probabilities: [0.3, 0.25, 0.45], evidence: 1).action == .review)
        #expect(Self.policy.decide(classes: Self.classes, probabilities: [0.40, 0.01, 0.59], evidence: 0.5).action == .review)
    }

    @Test func aClassRuleBesideTheHarmRuleStillActsOnItsOwn() {
        let policy = Policy(feed: "f", rules: [Policy.harm: ClassRule(demote: 0.5, remove: 0.99), "abusive": ClassRule(remove: 0.8)])
        let d = policy.decide(classes: Self.classes, probabilities: [0.85, 0.05, 0.10], evidence: 1)
        #expect(d.action == .remove)
        #expect(d.reason == "abusive 0.850 ≥ remove cut-off 0.800")
        #expect(policy.decide(classes: Self.classes, probabilities: [0.30, 0.05, 0.65], evidence: 1).action == .demote)
    }

    @Test func withoutAClearClassTheHarmRuleNeverActs() {
        #expect(Self.policy.decide(classes: ["spam", "ham"], probabilities: [1, 0], evidence: 1).action == .allow)
        #expect(Policy.reading(rule: Policy.harm, classes: ["spam", "ham"], probabilities: [1, 0], clearLabel: "clear") == nil)
    }
}
