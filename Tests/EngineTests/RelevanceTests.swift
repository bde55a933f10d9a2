import Foundation
import Testing

@testable import Engine

/// Exact numbers, computed by hand from the Wilson formula with z = 1.96.
struct RelevanceTests {
    @Test(arguments: [
        (11.0, 12.0, 0.646114078),
        (1.0, 2.0, 0.094528655),
        (5.0, 10.0, 0.236589594),
        (0.0, 5.0, 0.0),
        (3.0, 0.0, 0.0),
    ])
    func wilsonLowerBound(_ successes: Double, _ trials: Double, _ expected: Double) {
        #expect(abs(Relevance.wilsonLowerBound(successes: successes, trials: trials, z: 1.96) - expected) < 1e-8)
    }

    @Test func engagementAddsOnePseudoReactionEachWay() {
        // 10 likes, no negatives → bound of 11 in 12; nothing at all → bound of 1 in 2;
        // 3 likes + 1 share (4 positive) and 4 reports → bound of 5 in 10.
        #expect(abs(Relevance.engagementQuality(Engagement(views: 100, likes: 10), z: 1.96) - 0.646114078) < 1e-8)
        #expect(abs(Relevance.engagementQuality(Engagement(), z: 1.96) - 0.094528655) < 1e-8)
        #expect(abs(Relevance.engagementQuality(Engagement(likes: 3, shares: 1, reports: 4), z: 1.96) - 0.236589594) < 1e-8)
    }

    @Test func scoreMultipliesTheFactors() {
        // Quality 0.9 × engagement 0.646114078 × freshness 0.5^(12/24) = 0.411184482.
        let s = Relevance.score(quality: 0.9, engagement: Engagement(views: 100, likes: 10), ageHours: 12, profile: RelevanceProfile())
        #expect(abs(s.freshness - 0.707106781) < 1e-8)
        #expect(abs(s.relevance - 0.411184482) < 1e-8)
        // Weights are exponents: with engagement weight 0 only quality and freshness count.
        let textOnly = Relevance.score(quality: 0.9, engagement: Engagement(likes: 10), ageHours: 24, profile: RelevanceProfile(engagementWeight: 0))
        #expect(abs(textOnly.relevance - 0.45) < 1e-12)
    }

    @Test func moreEvidenceOfApprovalRanksHigher() {
        let few = Relevance.engagementQuality(Engagement(likes: 2), z: 1.96)
        let many = Relevance.engagementQuality(Engagement(likes: 200, reports: 2), z: 1.96)
        #expect(many > few)
    }
}
