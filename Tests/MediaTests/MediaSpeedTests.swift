import Engine
import Foundation
import Testing

@testable import Media

/// Throughput, only when asked (WINNOW_MEDIA_BENCH=1; meaningful in a release build:
/// `WINNOW_MEDIA_BENCH=1 swift test -c release --filter MediaSpeedTests`). Prints 1080p JPEGs decoded and hashed
/// per second on one core, and seconds of video hashed per second at 1 frame a second.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["WINNOW_MEDIA_BENCH"] != nil && MediaFixtures.python != nil && MediaFixtures.shared != nil,
                "set WINNOW_MEDIA_BENCH=1 (with the Python env and ../shared/media) to measure hashing speed"))
struct MediaSpeedTests {
    @Test func imagesAndVideoPerSecond() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The bridge photo scaled to 1920x1080 and saved as an ordinary JPEG (quality 90).
        let script = """
        import sys
        from PIL import Image
        Image.open(sys.argv[1]).convert('RGB').resize((1920, 1080)).save(sys.argv[2], quality=90)
        """
        let jpegPath = folder + "/1080p.jpg"
        let made = try MediaFixtures.run(MediaFixtures.python!, ["-c", script, MediaFixtures.shared! + "/pdq/bridge-mods/aaa-orig.jpg", jpegPath])
        try #require(made.status == 0, "\(made.error)")
        let jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: jpegPath)))
        _ = try MediaHasher.imageSignature(bytes: jpeg)
        let count = 40
        let start = Date()
        for _ in 0..<count { _ = try MediaHasher.imageSignature(bytes: jpeg) }
        let imageSeconds = Date().timeIntervalSince(start)
        print(String(format: "1080p JPEG (%d bytes): %.1f images/s decode+hash on one core", jpeg.count, Double(count) / imageSeconds))

        let video = try MediaFixtures.bytes("vpdq/videos/chair-orig-22-sd-bar.mp4")
        let videoStart = Date()
        let frames = try MediaHasher.videoSignature(bytes: video, framesPerSecond: 1)
        let videoSeconds = Date().timeIntervalSince(videoStart)
        let duration = frames.last!.seconds + 1
        print(String(format: "480x720 H.264, %.1f s of video at 1 frame/s: %.1f s of video hashed per second", duration, duration / videoSeconds))
    }
}
