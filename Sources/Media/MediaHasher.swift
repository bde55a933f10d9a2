import CMedia
import Engine

/// Perceptual hashes of uploaded media: PDQ for images, PDQ of sampled frames (the vPDQ manner) for videos.
/// Bytes in, signatures out: no file or network access, and every size the file declares is checked against
/// `MediaLimits` before it costs memory or time.
public enum MediaHasher {
    /// The PDQ hash and quality of a JPEG, PNG or WebP image, after its EXIF orientation is applied.
    public static func imageSignature(bytes: [UInt8], limits: MediaLimits = .standard) throws(MediaError) -> ImageSignature {
        try withImage(bytes: bytes, limits: limits) { image throws(MediaError) in
            var hasher = PDQHasher()
            return hasher.signature(rgb: image.pixels, width: image.width, height: image.height, rowStride: image.width * 3)
        }
    }

    /// The hashes of an image in all eight rotations and mirror images, from one decode and one transform.
    public static func dihedralSignatures(bytes: [UInt8], limits: MediaLimits = .standard) throws(MediaError) -> ImageSignature {
        try withImage(bytes: bytes, limits: limits) { image throws(MediaError) in
            var hasher = PDQHasher()
            return hasher.dihedralSignatures(rgb: image.pixels, width: image.width, height: image.height, rowStride: image.width * 3)
        }
    }

    /// A decoded image, valid only inside `withImage`'s body.
    public struct DecodedImage {
        public var pixels: UnsafeRawBufferPointer
        public var width: Int
        public var height: Int
    }

    /// Decodes an image to packed 8-bit RGB (EXIF orientation applied, alpha dropped) for `body`.
    public static func withImage<T>(bytes: [UInt8], limits: MediaLimits = .standard,
                                    _ body: (DecodedImage) throws(MediaError) -> T) throws(MediaError) -> T {
        guard !bytes.isEmpty else { throw .empty }
        guard bytes.count <= limits.maxImageBytes else { throw .tooManyBytes(bytes: bytes.count, limit: limits.maxImageBytes) }
        var image = cmedia_image()
        let status = bytes.withUnsafeBufferPointer { cmedia_decode_image($0.baseAddress, $0.count, Int64(limits.maxImagePixels), &image) }
        defer { cmedia_image_free(&image) }
        guard status == CMEDIA_OK, let pixels = image.pixels else {
            throw error(status, message: message(of: &image.message), video: false)
        }
        let width = Int(image.width), height = Int(image.height)
        return try body(DecodedImage(pixels: UnsafeRawBufferPointer(start: pixels, count: width * height * 3), width: width, height: height))
    }

    /// The PDQ hashes of a video's frames, `framesPerSecond` of them per second of video (1 by default; at least one
    /// frame in N = frame rate / framesPerSecond, counted from the first, as the vPDQ reference samples). Pass the
    /// video's own frame rate or more to hash every frame.
    public static func videoSignature(bytes: [UInt8], limits: MediaLimits = .standard,
                                      framesPerSecond: Double = 1) throws(MediaError) -> [VideoFrameSignature] {
        guard !bytes.isEmpty else { throw .empty }
        guard bytes.count <= limits.maxVideoBytes else { throw .tooManyBytes(bytes: bytes.count, limit: limits.maxVideoBytes) }
        guard framesPerSecond > 0, framesPerSecond.isFinite else {
            preconditionFailure("framesPerSecond must be positive, got \(framesPerSecond)")
        }
        let collector = FrameCollector()
        let caps = cmedia_video_limits(max_pixels: Int64(limits.maxVideoFramePixels), max_seconds: limits.maxVideoSeconds,
                                       max_frames: Int64(limits.maxVideoFrames), max_work_seconds: limits.maxVideoHashSeconds)
        var info = cmedia_video_info()
        let status = withExtendedLifetime(collector) {
            bytes.withUnsafeBufferPointer { buffer in
                cmedia_decode_video(buffer.baseAddress, buffer.count, 1 / framesPerSecond, caps, { context, rgb, width, height, linesize, frame, seconds in
                    let collector = Unmanaged<FrameCollector>.fromOpaque(context!).takeUnretainedValue()
                    let pixels = UnsafeRawBufferPointer(start: rgb, count: Int(linesize) * Int(height))
                    let signature = collector.hasher.signature(rgb: pixels, width: Int(width), height: Int(height), rowStride: Int(linesize))
                    collector.frames.append(VideoFrameSignature(frame: Int(frame), seconds: seconds, hash: signature.hash, quality: signature.quality))
                    return 0
                }, Unmanaged.passUnretained(collector).toOpaque(), &info)
            }
        }
        guard status == CMEDIA_OK else { throw error(status, message: message(of: &info.message), video: true) }
        return collector.frames
    }

    /// What the frame callback adds to, through its context pointer.
    private final class FrameCollector {
        var hasher = PDQHasher()
        var frames: [VideoFrameSignature] = []
    }

    private static func message<T>(of tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func error(_ status: cmedia_status, message: String, video: Bool) -> MediaError {
        switch status {
        case CMEDIA_UNSUPPORTED: return video ? .notAVideo(message) : .unsupportedFormat(message)
        case CMEDIA_NO_VIDEO: return .notAVideo(message)
        case CMEDIA_TOO_LARGE: return .tooLarge(message)
        case CMEDIA_NO_MEMORY: return .outOfMemory(message)
        default: return .corrupt(message.isEmpty ? "the data is corrupt" : message)
        }
    }
}
