import Engine
import Foundation
import Media

/// An item's media as a feed sends it: a file's bytes to hash here, or an image hash the feed made itself.
public enum MediaInput: Sendable {
    case image(bytes: [UInt8])
    case video(bytes: [UInt8])
    case imageHash(PDQHash, quality: Int)
}

/// Turns submitted media into signatures: decoded and hashed (PDQ for images, in all eight orientations; PDQ of
/// sampled frames for videos), then the bytes are dropped. Bad media is refused with a `ValidationError` naming the
/// medium (`media[1]`) and the problem (not an image, truncated, too large, unsupported format).
public struct MediaIntake: Sendable {
    public var limits: MediaLimits
    /// Media an item may carry.
    public var maxItems: Int
    /// Video frames hashed per second of video.
    public var framesPerSecond: Double

    public init(limits: MediaLimits = .standard, maxItems: Int = 4, framesPerSecond: Double = 1) {
        self.limits = limits
        self.maxItems = maxItems
        self.framesPerSecond = framesPerSecond
    }

    /// Decoding and hashing run here, one upload at a time per node: a large image holds a core for a tenth of a
    /// second or more, and on Swift's shared threads (one per core) two uploads at once would stall every other
    /// request. Feeds take turns (`FairQueue`). Hashes given as such skip the queue.
    static let queue = FairQueue(label: "winnow.media")

    /// `signatures(_:)` on the media queue, in `owner`'s turn (the feed: one feed's uploads of large images wait
    /// for each other, not another feed's small one; outside testing, a feed's photo waited 35 s behind another's).
    /// - Throws: `ValidationError` with field `media` or `media[i]`.
    public func hash(_ inputs: [MediaInput], owner: String = "") async throws(ValidationError) -> [MediaSignature] {
        let needsDecoding = inputs.contains { if case .imageHash = $0 { return false } else { return true } }
        guard needsDecoding else { return try signatures(inputs) }
        let result: Result<[MediaSignature], ValidationError> = await withCheckedContinuation { continuation in
            Self.queue.submit(owner: owner) { continuation.resume(returning: Result { () throws(ValidationError) in try signatures(inputs) }) }
        }
        return try result.get()
    }

    /// - Throws: `ValidationError` with field `media` or `media[i]`.
    public func signatures(_ inputs: [MediaInput]) throws(ValidationError) -> [MediaSignature] {
        guard inputs.count <= maxItems else {
            throw ValidationError(field: "media", "\(inputs.count) media on one item; the limit is \(maxItems)", tooLarge: true)
        }
        var out: [MediaSignature] = []
        for (i, input) in inputs.enumerated() {
            if case let .imageHash(_, quality) = input, !(0...100).contains(quality) {
                throw ValidationError(field: "media[\(i)].quality", "a PDQ quality is 0 to 100")
            }
            do throws(MediaError) {
                switch input {
                case let .image(bytes):
                    // All eight orientations from one transform (a rotated or mirrored repost still matches banks).
                    out.append(.image(try MediaHasher.dihedralSignatures(bytes: bytes, limits: limits)))
                case let .video(bytes):
                    let frames = try MediaHasher.videoSignature(bytes: bytes, limits: limits, framesPerSecond: framesPerSecond)
                    guard !frames.isEmpty else { throw MediaError.notAVideo("the video has no frame that could be decoded") }
                    out.append(.video(frames))
                case let .imageHash(hash, quality):
                    out.append(.image(ImageSignature(hash: hash, quality: quality)))
                }
            } catch {
                let tooLarge: Bool
                switch error {
                case .tooManyBytes, .tooLarge: tooLarge = true
                default: tooLarge = false
                }
                throw ValidationError(field: "media[\(i)]", error.message, tooLarge: tooLarge)
            }
        }
        return out
    }
}
