/// How much two videos share, frame by frame (vPDQ's brute-force comparison): the share of one video's distinct,
/// matchable frames that lie within `PDQHash.matchDistance` of some frame of the other, both ways round.
/// Both ways, because a short clip cut from a long video covers the clip but not the video: `isMatch` asks both
/// shares to reach the threshold (a whole-video copy), while a caller after excerpts can read `queryShare` alone.
public struct VideoMatch: Hashable, Sendable {
    /// The share (0-1) of the query's distinct frames of quality 50 or more matched in the target.
    public var queryShare: Double
    /// The share (0-1) of the target's distinct frames of quality 50 or more matched in the query.
    public var targetShare: Double

    /// vPDQ's recommended threshold: 80% of frames each way.
    public static let defaultThreshold = 0.8

    public init(queryShare: Double, targetShare: Double) {
        self.queryShare = queryShare
        self.targetShare = targetShare
    }

    public func isMatch(threshold: Double = VideoMatch.defaultThreshold) -> Bool {
        queryShare >= threshold && targetShare >= threshold
    }

    /// Compares two videos' frame hashes. Frames below `minimumQuality` are left out (too flat to say anything) and
    /// repeated hashes count once (a still scene would otherwise outweigh the rest); with nothing left on either
    /// side, both shares are 0.
    public init(query: [VideoFrameSignature], target: [VideoFrameSignature], distance: Int = PDQHash.matchDistance,
                minimumQuality: Int = PDQHash.minimumQuality) {
        let queryHashes = Self.distinctHashes(query, minimumQuality: minimumQuality)
        let targetHashes = Self.distinctHashes(target, minimumQuality: minimumQuality)
        guard !queryHashes.isEmpty, !targetHashes.isEmpty else {
            self.init(queryShare: 0, targetShare: 0)
            return
        }
        self.init(queryShare: Self.share(of: queryHashes, matchedIn: targetHashes, distance: distance),
                  targetShare: Self.share(of: targetHashes, matchedIn: queryHashes, distance: distance))
    }

    static func distinctHashes(_ frames: [VideoFrameSignature], minimumQuality: Int) -> [PDQHash] {
        var seen = Set<PDQHash>()
        var hashes: [PDQHash] = []
        for frame in frames where frame.quality >= minimumQuality && seen.insert(frame.hash).inserted {
            hashes.append(frame.hash)
        }
        return hashes
    }

    static func share(of hashes: [PDQHash], matchedIn others: [PDQHash], distance: Int) -> Double {
        let matched = hashes.count { hash in others.contains { $0.distance(to: hash) <= distance } }
        return Double(matched) / Double(hashes.count)
    }
}
