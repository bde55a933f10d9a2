import Foundation

/// Cumulative engagement counters of an item.
public struct Engagement: Codable, Equatable, Sendable {
    public var views: Int
    public var likes: Int
    public var shares: Int
    public var comments: Int
    public var reports: Int
    public var hides: Int

    public init(views: Int = 0, likes: Int = 0, shares: Int = 0, comments: Int = 0, reports: Int = 0, hides: Int = 0) {
        self.views = views
        self.likes = likes
        self.shares = shares
        self.comments = comments
        self.reports = reports
        self.hides = hides
    }

    /// Likes, shares and comments.
    public var positiveReactions: Int { likes + shares + comments }
    /// Reports and hides.
    public var negativeReactions: Int { reports + hides }
}

/// How a feed weighs relevance. `relevance = quality^qualityWeight × engagement^engagementWeight × freshness`.
public struct RelevanceProfile: Codable, Equatable, Sendable {
    /// Exponent on text quality (P(clear)), ≥ 0. Default 1.
    public var qualityWeight: Double
    /// Exponent on engagement quality, ≥ 0. Default 1.
    public var engagementWeight: Double
    /// Hours after which freshness halves, > 0. Default 24.
    public var halfLifeHours: Double
    /// Normal quantile of the Wilson bound. Default 1.96 (95%).
    public var z: Double

    public init(qualityWeight: Double = 1, engagementWeight: Double = 1, halfLifeHours: Double = 24, z: Double = 1.96) {
        self.qualityWeight = qualityWeight
        self.engagementWeight = engagementWeight
        self.halfLifeHours = halfLifeHours
        self.z = z
    }

    private enum CodingKeys: String, CodingKey { case qualityWeight, engagementWeight, halfLifeHours, z }

    /// Every field is optional and defaults as in `init`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        qualityWeight = try c.decodeIfPresent(Double.self, forKey: .qualityWeight) ?? 1
        engagementWeight = try c.decodeIfPresent(Double.self, forKey: .engagementWeight) ?? 1
        halfLifeHours = try c.decodeIfPresent(Double.self, forKey: .halfLifeHours) ?? 24
        z = try c.decodeIfPresent(Double.self, forKey: .z) ?? 1.96
    }
}

extension RelevanceProfile {
    /// The values each field may take. Exponents over 10 (1e308 was taken, outside testing) rank every item 0, and a
    /// half-life under a minute makes every item's freshness 0 within the hour: the bounds keep the ranking a ranking.
    public static let ranges: [(field: String, range: ClosedRange<Double>)] = [
        ("qualityWeight", 0...10), ("engagementWeight", 0...10), ("halfLifeHours", (1.0 / 60)...87_600), ("z", 0.01...10),
    ]

    /// - Throws: `PolicyError.invalidRelevance` naming the value out of range.
    public func validate() throws {
        for ((field, range), value) in zip(Self.ranges, [qualityWeight, engagementWeight, halfLifeHours, z]) {
            guard value.isFinite, range.contains(value) else { throw PolicyError.invalidRelevance(field: field, value: value) }
        }
    }
}

/// One item's relevance and its three factors.
public struct RelevanceScore: Codable, Equatable, Sendable {
    public var quality: Double
    public var engagement: Double
    public var freshness: Double
    public var relevance: Double

    public init(quality: Double, engagement: Double, freshness: Double, relevance: Double) {
        self.quality = quality
        self.engagement = engagement
        self.freshness = freshness
        self.relevance = relevance
    }
}

public enum Relevance {
    /// The Wilson score interval's lower bound for `successes` out of `trials` at normal quantile `z`
    /// (Wilson 1927): (p̂ + z²/2n − z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n). Zero trials give 0.
    public static func wilsonLowerBound(successes: Double, trials: Double, z: Double) -> Double {
        guard trials > 0 else { return 0 }
        let p = successes / trials
        let z2 = z * z
        let centre = p + z2 / (2 * trials)
        let spread = z * (p * (1 - p) / trials + z2 / (4 * trials * trials)).squareRoot()
        return max(0, (centre - spread) / (1 + z2 / trials))
    }

    /// Engagement quality: the Wilson lower bound of the share of positive reactions among all reactions, with one
    /// positive and one negative pseudo-reaction added (so an item nobody reacted to scores the bound of 1 in 2,
    /// not 0, and a few likes cannot look like a sure thing).
    public static func engagementQuality(_ e: Engagement, z: Double) -> Double {
        let positive = Double(max(0, e.positiveReactions)) + 1
        let total = positive + Double(max(0, e.negativeReactions)) + 1
        return wilsonLowerBound(successes: positive, trials: total, z: z)
    }

    /// Relevance of an item with text quality `quality` (P(clear), 0…1) and `ageHours` since creation.
    public static func score(quality: Double, engagement: Engagement, ageHours: Double, profile: RelevanceProfile) -> RelevanceScore {
        let q = min(1, max(0, quality))
        let e = engagementQuality(engagement, z: profile.z)
        let freshness = pow(0.5, max(0, ageHours) / profile.halfLifeHours)
        let relevance = pow(q, profile.qualityWeight) * pow(e, profile.engagementWeight) * freshness
        return RelevanceScore(quality: q, engagement: e, freshness: freshness, relevance: relevance)
    }
}
