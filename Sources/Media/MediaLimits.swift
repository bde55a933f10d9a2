/// What one upload may cost to hash. Every cap is checked before the work it bounds: bytes before decoding, the
/// pixels an image or video declares before memory is allocated for them, a video's declared duration before its
/// frames are decoded (and its frames as they come, for files that understate it).
public struct MediaLimits: Sendable, Hashable {
    /// Bytes of an image file. Default 10 MiB: a 50-megapixel JPEG of ordinary quality fits.
    public var maxImageBytes: Int
    /// Pixels of an image (width x height). Default 50 million: a decoded image then takes at most 150 MB as RGB
    /// plus 400 MB of 32-bit luminance buffers while it is hashed.
    public var maxImagePixels: Int
    /// Bytes of a video file. Default 50 MiB.
    public var maxVideoBytes: Int
    /// Seconds of video. Default 600 (10 minutes).
    public var maxVideoSeconds: Double
    /// Frames decoded (every frame, not only the hashed ones). Default 36,000: 10 minutes at 60 frames a second.
    public var maxVideoFrames: Int
    /// Pixels of one video frame. Default 8,294,400 (3840x2160, 4K UHD).
    public var maxVideoFramePixels: Int
    /// Seconds of work one video may take: the caps above still let a small file of ten minutes of still 4K frames
    /// (or a declared frame rate of thousands a second) hold a core for minutes, so decoding stops at the first
    /// packet or frame past this, sampled or not. Default 60 (on this project's machines the SD reference clips hash
    /// at about 36 seconds of video a second and the HD one at 20: ten minutes of HD in about 30 s).
    public var maxVideoHashSeconds: Double

    public init(maxImageBytes: Int = 10 << 20, maxImagePixels: Int = 50_000_000, maxVideoBytes: Int = 50 << 20,
                maxVideoSeconds: Double = 600, maxVideoFrames: Int = 36_000, maxVideoFramePixels: Int = 3840 * 2160,
                maxVideoHashSeconds: Double = 60) {
        self.maxImageBytes = maxImageBytes
        self.maxImagePixels = maxImagePixels
        self.maxVideoBytes = maxVideoBytes
        self.maxVideoSeconds = maxVideoSeconds
        self.maxVideoFrames = maxVideoFrames
        self.maxVideoFramePixels = maxVideoFramePixels
        self.maxVideoHashSeconds = maxVideoHashSeconds
    }

    public static let standard = MediaLimits()
}

/// Why an upload could not be hashed. `message` says what was wrong and how to fix it; the API shows it in its 4xx
/// answers as `media[i]: message`.
public enum MediaError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No bytes at all.
    case empty
    /// More bytes than the limit allows (checked before decoding).
    case tooManyBytes(bytes: Int, limit: Int)
    /// Not an image format Winnow reads (JPEG, PNG, WebP), e.g. a GIF, a text file or random bytes.
    case unsupportedFormat(String)
    /// A supported format, but damaged or cut short.
    case corrupt(String)
    /// Declared dimensions, duration or frame count over the limits.
    case tooLarge(String)
    /// Not a video container Winnow reads, or one without a video stream.
    case notAVideo(String)
    /// The server could not allocate the memory to decode it.
    case outOfMemory(String)

    public var message: String {
        switch self {
        case .empty:
            return "the media is empty: send the file's bytes"
        case let .tooManyBytes(bytes, limit):
            return "the media is \(bytes) bytes, over the limit of \(limit): send a smaller or more compressed file"
        case let .unsupportedFormat(detail):
            return "\(detail): send a JPEG, PNG or WebP image"
        case let .corrupt(detail):
            return "\(detail): send the whole, undamaged file (was the upload cut short?)"
        case let .tooLarge(detail):
            return "\(detail): send a smaller version"
        case let .notAVideo(detail):
            return "\(detail): send an MP4, MOV, WebM, Matroska, AVI, FLV, MPEG-TS or Ogg video"
        case let .outOfMemory(detail):
            return "\(detail): try again later or send a smaller file"
        }
    }

    public var description: String { message }
}
