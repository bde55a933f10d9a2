/// Whether two videos are copies, in the vPDQ manner: each video is a list of frame hashes (PDQ of frames sampled
/// at a fixed rate); frames of low quality are left out and equal hashes counted once; a frame is matched when some
/// frame of the other video lies within `PDQHash.matchDistance`. Two videos match when at least `frameShare` of
/// each one's distinct frames are matched (both ways, so a short clip inside a long video does not match it, nor a
/// long video a still frame of it).
public enum VideoMatch {
    /// The share of distinct frames that must match, each way (vPDQ's authors use 80%).
    public static let frameShare = 0.8

    public struct Comparison: Equatable, Sendable {
        /// The share of the first video's distinct frames matched in the second, and the other way round.
        public var firstShare: Double
        public var secondShare: Double
        /// The median distance of the first video's matched frames to their nearest frame; nil when none matched.
        public var medianDistance: Int?

        public var isMatch: Bool { firstShare >= VideoMatch.frameShare && secondShare >= VideoMatch.frameShare }
        /// The smaller of the two shares: how a match is reported.
        public var share: Double { min(firstShare, secondShare) }
    }

    public static func compare(_ first: [VideoFrameSignature], _ second: [VideoFrameSignature],
                               distance: Int = PDQHash.matchDistance, minimumQuality: Int = PDQHash.minimumQuality) -> Comparison {
        let a = distinct(first, minimumQuality: minimumQuality)
        let b = distinct(second, minimumQuality: minimumQuality)
        guard !a.isEmpty, !b.isEmpty else { return Comparison(firstShare: 0, secondShare: 0, medianDistance: nil) }
        var distances: [Int] = []
        var matchedB = [Bool](repeating: false, count: b.count)
        for x in a {
            var best = Int.max
            for (j, y) in b.enumerated() {
                let d = x.distance(to: y)
                if d <= distance { matchedB[j] = true }
                best = min(best, d)
            }
            if best <= distance { distances.append(best) }
        }
        distances.sort()
        return Comparison(firstShare: Double(distances.count) / Double(a.count),
                          secondShare: Double(matchedB.filter { $0 }.count) / Double(b.count),
                          medianDistance: distances.isEmpty ? nil : distances[distances.count / 2])
    }

    /// The distinct hashes of the frames of at least `minimumQuality`, in first-seen order.
    public static func distinct(_ frames: [VideoFrameSignature], minimumQuality: Int = PDQHash.minimumQuality) -> [PDQHash] {
        var seen = Set<PDQHash>()
        var out: [PDQHash] = []
        for frame in frames where frame.quality >= minimumQuality && seen.insert(frame.hash).inserted { out.append(frame.hash) }
        return out
    }
}
