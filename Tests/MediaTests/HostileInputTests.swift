import Engine
import Foundation
import Testing

@testable import Media

/// Damaged, cut, oversized and foreign input: each gets the right `MediaError`, none crashes (and, under the address
/// sanitizer, none leaks: `swift test --sanitize=address --filter HostileInputTests`).
struct HostileInputTests {
    static func isCorrupt(_ error: MediaError) -> Bool { if case .corrupt = error { true } else { false } }
    static func isUnsupported(_ error: MediaError) -> Bool { if case .unsupportedFormat = error { true } else { false } }
    static func isTooLarge(_ error: MediaError) -> Bool { if case .tooLarge = error { true } else { false } }

    static func imageError(_ bytes: [UInt8], limits: MediaLimits = .standard) -> MediaError? {
        do {
            _ = try MediaHasher.imageSignature(bytes: bytes, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func emptyAndForeignBytesAreRefused() {
        #expect(Self.imageError([]) == .empty)
        let gif = Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0, 0x3B]
        let error = Self.imageError(gif)
        #expect(error.map(Self.isUnsupported) == true)
        #expect(error?.message.contains("GIF images are not supported") == true)
        #expect(Self.imageError(Array("hello, world: not an image\n".utf8)).map(Self.isUnsupported) == true)
        var random = SplitMix(state: 11)
        for length in [1, 2, 3, 7, 100, 10_000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(Self.imageError(bytes).map(Self.isUnsupported) == true, "\(length) random bytes")
        }
    }

    @Test func bytesOverTheLimitAreRefusedBeforeDecoding() {
        let limits = MediaLimits(maxImageBytes: 100)
        #expect(Self.imageError([UInt8](repeating: 0, count: 101), limits: limits) == .tooManyBytes(bytes: 101, limit: 100))
    }

    /// A valid PNG header declaring 100000x100000 pixels (30 GB as RGB) and nothing after it: refused from the header.
    @Test func hugeDeclaredDimensionsAreRefusedFromTheHeader() {
        let png = PNGWriter.header(width: 100_000, height: 100_000)
        let error = Self.imageError(png)
        #expect(error.map(Self.isTooLarge) == true, "\(String(describing: error))")
        #expect(error?.message.contains("100000x100000") == true)
        // A zero width is corrupt, not too large.
        #expect(Self.imageError(PNGWriter.header(width: 0, height: 10)).map(Self.isCorrupt) == true)
        // And a real, small image over a small pixel cap.
        let small = PNGWriter.png(width: 20, height: 20, rgb: [UInt8](repeating: 128, count: 20 * 20 * 3))
        #expect(Self.imageError(small, limits: MediaLimits(maxImagePixels: 399)).map(Self.isTooLarge) == true)
        #expect(Self.imageError(small, limits: MediaLimits(maxImagePixels: 400)) == nil)
    }

    @Test func aPNGWrittenHereDecodes() throws {
        var random = SplitMix(state: 3)
        let rgb = (0..<(37 * 23 * 3)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let decoded = try MediaHasher.withImage(bytes: PNGWriter.png(width: 37, height: 23, rgb: rgb)) { image in
            (image.width, image.height, Array(image.pixels))
        }
        #expect(decoded.0 == 37 && decoded.1 == 23)
        #expect(decoded.2 == rgb)
    }

    /// Every reference format cut at many points: corrupt (never a crash, never a hash of half an image).
    @Test(.enabled(if: MediaFixtures.shared != nil, Comment(rawValue: MediaFixtures.missingShared)),
          arguments: ["pdq/bridge-mods/aaa-orig.jpg", "pdq/misc-images/modes/RGBA.png", "pdq/misc-images/modes/F.webp",
                      "pdq/misc-images/modes/CMYK.jpg", "pdq/misc-images/small.jpg", "pdq/misc-images/modes/P.png"])
    func truncatedFilesAreCorrupt(path: String) throws {
        let whole = try MediaFixtures.bytes(path)
        for fraction in [0.02, 0.1, 0.3, 0.5, 0.9, 0.99] {
            let cut = Array(whole.prefix(max(16, Int(Double(whole.count) * fraction))))
            let error = Self.imageError(cut)
            #expect(error.map(Self.isCorrupt) == true, "\(path) cut to \(cut.count) of \(whole.count) bytes: \(String(describing: error))")
        }
    }

    /// A progressive JPEG whose last scan is repeated: libjpeg only warns about each repeat and makes a full pass for
    /// it, so thousands of them in a few kilobytes would hold the decoder for minutes. Up to 100 scans decode; more
    /// are refused as too large, naming the count.
    @Test(.enabled(if: MediaFixtures.shared != nil, Comment(rawValue: MediaFixtures.missingShared)))
    func aJPEGWithThousandsOfScansIsRefused() throws {
        let whole = try MediaFixtures.bytes("pdq/misc-images/small.jpg")
        let starts = (0..<(whole.count - 1)).filter { whole[$0] == 0xFF && whole[$0 + 1] == 0xDA }
        #expect(starts.count == 10)  // a progressive file of ten scans
        let last = try #require(starts.last)
        #expect(Array(whole.suffix(2)) == [0xFF, 0xD9])
        let scan = Array(whole[last..<(whole.count - 2)])
        func repeated(_ times: Int) -> [UInt8] { Array(whole[..<last]) + Array([[UInt8]](repeating: scan, count: times).joined()) + [0xFF, 0xD9] }
        #expect(Self.imageError(repeated(90)) == nil)  // 99 scans
        let error = Self.imageError(repeated(3_000))
        #expect(error.map(Self.isTooLarge) == true, "\(String(describing: error))")
        #expect(error?.message.contains("more than 100 scans") == true, "\(String(describing: error))")
    }

    /// Random bytes after a valid signature reach the decoders' own error paths.
    @Test func garbageAfterAValidSignatureIsCorrupt() {
        var random = SplitMix(state: 5)
        let signatures: [[UInt8]] = [[0xFF, 0xD8, 0xFF], [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], Array("RIFF\u{10}\0\0\0WEBPVP8 ".utf8)]
        for signature in signatures {
            for _ in 0..<20 {
                let bytes = signature + (0..<Int.random(in: 0...2_000, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                let error = Self.imageError(bytes)
                #expect(error != nil)
                #expect(error.map { Self.isCorrupt($0) || Self.isTooLarge($0) } == true, "\(String(describing: error))")
            }
        }
    }

    @Test func nonVideosAreRefused() throws {
        func videoError(_ bytes: [UInt8]) -> MediaError? {
            do {
                _ = try MediaHasher.videoSignature(bytes: bytes)
                return nil
            } catch {
                return error
            }
        }
        #expect(videoError([]) == .empty)
        var random = SplitMix(state: 9)
        let noise = (0..<50_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        let error = videoError(noise)
        #expect(error.map { if case .notAVideo = $0 { true } else { false } } == true, "\(String(describing: error))")
        #expect(videoError(Array("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n".utf8)) != nil)
        #expect(videoError(Array("ffconcat version 1.0\nfile /etc/passwd\n".utf8)) != nil)
    }
}

/// Minimal PNG encoding (stored zlib blocks, no compression) for test images.
enum PNGWriter {
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The signature and an IHDR chunk for 8-bit RGB, nothing else.
    static func header(width: UInt32, height: UInt32) -> [UInt8] {
        signature + chunk("IHDR", bigEndian(width) + bigEndian(height) + [8, 2, 0, 0, 0])
    }

    static func png(width: Int, height: Int, rgb: [UInt8]) -> [UInt8] {
        var raw: [UInt8] = []
        for y in 0..<height { raw.append(0); raw += rgb[(y * width * 3)..<((y + 1) * width * 3)] }
        var zlib: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65_535, raw.count - offset)
            let last: UInt8 = offset + length == raw.count ? 1 : 0
            zlib += [last, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8((~length >> 8) & 0xFF)]
            zlib += raw[offset..<(offset + length)]
            offset += length
        } while offset < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65_521; b = (b + a) % 65_521 }
        zlib += bigEndian(b << 16 | a)
        return header(width: UInt32(width), height: UInt32(height)) + chunk("IDAT", zlib) + chunk("IEND", [])
    }
}
