import Engine
import Foundation
import Testing

@testable import Media

/// Images made here (gradients, noise, shapes, odd sizes), hashed by Winnow and by the `pdqhash` Python package run
/// in the test: on the same pixels the two agree bit for bit (or within a bit or two where a coefficient sits on the
/// median); through a PNG Pillow wrote, the same; through a JPEG Pillow wrote, within a few bits (two builds of
/// libjpeg-turbo).
@Suite(.enabled(if: MediaFixtures.python != nil, Comment(rawValue: MediaFixtures.missingPython)))
struct GeneratedImageTests {
    struct Picture {
        var name: String
        var width: Int
        var height: Int
        var rgb: [UInt8]
    }

    static func pictures() -> [Picture] {
        var random = SplitMix(state: 2026)
        var pictures: [Picture] = []
        func add(_ name: String, _ width: Int, _ height: Int, _ pixel: (Int, Int) -> (Double, Double, Double)) {
            var rgb = [UInt8](repeating: 0, count: width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    let (r, g, b) = pixel(x, y)
                    let i = (y * width + x) * 3
                    rgb[i] = UInt8(max(0, min(255, r.rounded())))
                    rgb[i + 1] = UInt8(max(0, min(255, g.rounded())))
                    rgb[i + 2] = UInt8(max(0, min(255, b.rounded())))
                }
            }
            pictures.append(Picture(name: name, width: width, height: height, rgb: rgb))
        }
        add("diagonal", 640, 480) { x, y in (Double(x) / 2.5, Double(y) / 1.9, Double(x + y) / 4.4) }
        add("rings", 501, 333) { x, y in
            let d = (Double(x - 250) * Double(x - 250) + Double(y - 160) * Double(y - 160)).squareRoot()
            return (128 + 127 * sin(d / 9), 128 + 127 * cos(d / 13), 128)
        }
        add("checks", 1000, 751) { x, y in ((x / 37 + y / 53) % 2 == 0 ? (230, 40, 40) : (20, 20, 200)) }
        var noise: [Double] = (0..<(97 * 61)).map { _ in Double.random(in: 0...255, using: &random) }
        add("noise", 97, 61) { x, y in (noise[y * 97 + x], 255 - noise[y * 97 + x], noise[(y * 97 + x * 7) % noise.count]) }
        noise = (0..<(64 * 64)).map { _ in Double.random(in: 0...255, using: &random) }
        add("noise-64", 64, 64) { x, y in (noise[y * 64 + x], noise[y * 64 + x], noise[y * 64 + x]) }
        add("tall", 7, 900) { x, y in (Double(y % 256), Double(x * 30), Double((y * 7) % 256)) }
        add("tiny", 5, 5) { x, y in (Double(x * 50), Double(y * 50), 0) }
        add("too-small", 4, 9) { x, y in (Double(x * 50), Double(y * 20), 9) }
        add("flat", 300, 200) { _, _ in (90, 90, 90) }
        add("blobs", 1920, 1080) { x, y in
            let u = Double(x) / 1920, v = Double(y) / 1080
            return (255 * (0.5 + 0.5 * sin(11 * u + 3 * v)), 255 * (0.5 + 0.5 * cos(7 * v - 5 * u * u)), 255 * u * v)
        }
        return pictures
    }

    /// For each NAME.rgb (raw RGB, with NAME.size holding "width height") in the folder: hashes the pixels, writes
    /// NAME.png and NAME.jpg with Pillow and hashes what Pillow decodes of the JPEG; prints `name hex quality jpeg-hex
    /// jpeg-quality`.
    static let script = """
    import sys, os, numpy, pdqhash
    from PIL import Image
    def hexof(bits):
        return ''.join('%x' % int(''.join(str(int(b)) for b in bits[i:i + 4]), 2) for i in range(0, 256, 4))
    folder = sys.argv[1]
    for name in sorted(n[:-4] for n in os.listdir(folder) if n.endswith('.rgb')):
        w, h = map(int, open(os.path.join(folder, name + '.size')).read().split())
        pixels = numpy.frombuffer(open(os.path.join(folder, name + '.rgb'), 'rb').read(), dtype=numpy.uint8).reshape(h, w, 3)
        bits, quality = pdqhash.compute(pixels)
        image = Image.fromarray(pixels, 'RGB')
        image.save(os.path.join(folder, name + '.png'))
        image.save(os.path.join(folder, name + '.jpg'), quality=90)
        jpeg = numpy.asarray(Image.open(os.path.join(folder, name + '.jpg')).convert('RGB'))
        jbits, jquality = pdqhash.compute(jpeg)
        print(name, hexof(bits), quality, hexof(jbits), jquality)
    """

    @Test func winnowAgreesWithThePdqhashPackage() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-pdq-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let pictures = Self.pictures()
        for picture in pictures {
            try Data(picture.rgb).write(to: URL(fileURLWithPath: folder + "/\(picture.name).rgb"))
            try "\(picture.width) \(picture.height)".write(toFile: folder + "/\(picture.name).size", atomically: true, encoding: .utf8)
        }
        let result = try MediaFixtures.run(MediaFixtures.python!, ["-c", Self.script, folder])
        try #require(result.status == 0, "the reference script failed: \(result.error)")
        var reference: [String: (PDQHash, Int, PDQHash, Int)] = [:]
        for line in result.output.split(separator: "\n") {
            let f = line.split(separator: " ")
            reference[String(f[0])] = (PDQHash(hex: f[1])!, Int(f[2])!, PDQHash(hex: f[3])!, Int(f[4])!)
        }
        var hasher = PDQHasher()
        for picture in pictures {
            let (hash, quality, jpegHash, jpegQuality) = try #require(reference[picture.name], "\(picture.name)")
            let raw = picture.rgb.withUnsafeBytes {
                hasher.signature(rgb: $0, width: picture.width, height: picture.height, rowStride: picture.width * 3)
            }
            print("\(picture.name) \(picture.width)x\(picture.height): raw \(raw.hash.distance(to: hash)) bits, quality \(raw.quality) vs \(quality)")
            #expect(raw.hash.distance(to: hash) <= 2, "\(picture.name): \(raw.hash) vs \(hash)")
            #expect(raw.quality == quality, "\(picture.name)")
            let png = try MediaHasher.imageSignature(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: folder + "/\(picture.name).png"))))
            #expect(png == raw, "\(picture.name): the PNG Pillow wrote decodes to other pixels")
            let jpeg = try MediaHasher.imageSignature(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: folder + "/\(picture.name).jpg"))))
            print("  jpeg \(jpeg.hash.distance(to: jpegHash)) bits, quality \(jpeg.quality) vs \(jpegQuality)")
            #expect(jpeg.hash.distance(to: jpegHash) <= 8, "\(picture.name): the JPEG hashes \(jpeg.hash.distance(to: jpegHash)) bits away")
            #expect(abs(jpeg.quality - jpegQuality) <= 2, "\(picture.name)")
        }
    }

    /// PNGs and WebPs carry EXIF orientation too (an eXIf chunk, an EXIF chunk): Pillow writes a picture that is not
    /// symmetric with orientations 3, 6 and 8 (and 1) in both lossless formats, and `pdqhash` hashes what
    /// `ImageOps.exif_transpose` makes of each; Winnow, from the file's bytes, gives the same hash and turns 6 and 8
    /// on their side.
    static let orientationScript = """
    import sys, os, numpy, pdqhash
    from PIL import Image, ImageOps
    def hexof(bits):
        return ''.join('%x' % int(''.join(str(int(b)) for b in bits[i:i + 4]), 2) for i in range(0, 256, 4))
    folder = sys.argv[1]
    w, h = 240, 150
    base = Image.new('RGB', (w, h))
    base.putdata([(x, (y * 255) // h, (255 - x) if y < h // 3 else 40) for y in range(h) for x in range(w)])
    for orientation in [1, 3, 6, 8]:
        exif = Image.Exif()
        exif[0x0112] = orientation
        for fmt, ext, options in [('PNG', 'png', {}), ('WEBP', 'webp', {'lossless': True})]:
            name = 'o%d.%s' % (orientation, ext)
            base.save(os.path.join(folder, name), fmt, exif=exif.tobytes(), **options)
            upright = ImageOps.exif_transpose(Image.open(os.path.join(folder, name))).convert('RGB')
            bits, quality = pdqhash.compute(numpy.asarray(upright))
            print(name, hexof(bits), quality, upright.size[0], upright.size[1])
    """

    @Test func exifOrientationOfPNGAndWebPIsAppliedAsPillowDoes() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-exif-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try MediaFixtures.run(MediaFixtures.python!, ["-c", Self.orientationScript, folder])
        try #require(result.status == 0, "the reference script failed: \(result.error)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 8)
        var hashes: Set<PDQHash> = []
        for line in lines {
            let f = line.split(separator: " ").map(String.init)
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + f[0])))
            let ours = try MediaHasher.imageSignature(bytes: bytes)
            #expect(ours.hash == PDQHash(hex: f[1]), "\(f[0]): \(ours.hash.distance(to: PDQHash(hex: f[1])!)) bits from pdqhash")
            #expect(ours.quality == Int(f[2]), "\(f[0])")
            let size = try MediaHasher.withImage(bytes: bytes) { ($0.width, $0.height) }
            #expect(size.0 == Int(f[3]) && size.1 == Int(f[4]), "\(f[0]): \(size)")
            hashes.insert(ours.hash)
        }
        #expect(hashes.count == 4)  // each orientation turns the picture another way; each format reads the same
    }
}
