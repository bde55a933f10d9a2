import Engine
import Foundation
import Testing

@testable import Media

/// Winnow's PDQ against the reference hashes in ../shared/media/pdq/expected-pdqhash.csv (the `pdqhash` package,
/// i.e. the reference C++, after Pillow decoded each file).
@Suite(.enabled(if: MediaFixtures.shared != nil, Comment(rawValue: MediaFixtures.missingShared)))
struct PDQReferenceTests {
    struct Expected {
        var path: String
        var hash: PDQHash
        var quality: Int
    }

    static func expected() throws -> [Expected] {
        let text = try String(contentsOfFile: MediaFixtures.shared! + "/pdq/expected-pdqhash.csv", encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { line in
            let fields = line.split(separator: ",")
            return Expected(path: String(fields[0]), hash: PDQHash(hex: fields[1])!, quality: Int(fields[2])!)
        }
    }

    /// Measured: every image within `bitTolerance` bits of the reference (most at 0), qualities within
    /// `qualityTolerance`. The bits that move come from the decoders (libjpeg-turbo and libwebp versions, Pillow's
    /// conversions), not from the hashing: on identical pixels the hashes agree exactly (GeneratedImageTests).
    static let bitTolerance = 8
    static let qualityTolerance = 2

    @Test func everyImageHashesWithinAFewBitsOfTheReference() throws {
        var distances: [Int] = []
        var qualityGaps: [Int] = []
        for row in try Self.expected() {
            let signature = try MediaHasher.imageSignature(bytes: MediaFixtures.bytes(row.path))
            let distance = signature.hash.distance(to: row.hash)
            distances.append(distance)
            qualityGaps.append(abs(signature.quality - row.quality))
            #expect(distance <= Self.bitTolerance, "\(row.path): \(distance) bits from the reference (\(signature.hash) vs \(row.hash))")
            #expect(abs(signature.quality - row.quality) <= Self.qualityTolerance, "\(row.path): quality \(signature.quality), reference \(row.quality)")
        }
        let mean = Double(distances.reduce(0, +)) / Double(distances.count)
        print("PDQ vs reference over \(distances.count) images: max \(distances.max()!) bits, mean \(String(format: "%.2f", mean)), exact \(distances.count { $0 == 0 }); quality gap max \(qualityGaps.max()!)")
    }

    @Test func editsOfTheBridgeMatchItAndUnrelatedPhotosDoNot() throws {
        let original = try MediaHasher.imageSignature(bytes: MediaFixtures.bytes("pdq/bridge-mods/aaa-orig.jpg"))
        #expect(original.hash.hex == "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
        let folder = MediaFixtures.shared! + "/pdq/bridge-mods"
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name != "aaa-orig.jpg" {
            let edit = try MediaHasher.imageSignature(bytes: MediaFixtures.bytes("pdq/bridge-mods/" + name))
            #expect(edit.hash.distance(to: original.hash) <= PDQHash.matchDistance, "\(name)")
        }
        let unrelated = MediaFixtures.shared! + "/pdq/reg-test-input/labelme-subset"
        var photos: [PDQHash] = [original.hash]
        for name in try FileManager.default.contentsOfDirectory(atPath: unrelated).sorted() {
            photos.append(try MediaHasher.imageSignature(bytes: MediaFixtures.bytes("pdq/reg-test-input/labelme-subset/" + name)).hash)
        }
        for i in photos.indices {
            for j in photos.indices where j > i {
                #expect(photos[i].distance(to: photos[j]) > PDQHash.matchDistance, "photos \(i) and \(j)")
            }
        }
    }

    /// dih/ holds the bridge in its eight orientations: each one's plain hash is far from the original's, but one of
    /// the original's dihedral hashes matches it, and it is the one for that orientation.
    @Test func rotatedAndFlippedCopiesMatchThroughTheDihedralHashes() throws {
        let original = try MediaHasher.dihedralSignatures(bytes: MediaFixtures.bytes("pdq/reg-test-input/dih/bridge-1-original.jpg"))
        let plain = try MediaHasher.imageSignature(bytes: MediaFixtures.bytes("pdq/reg-test-input/dih/bridge-1-original.jpg"))
        #expect(original[.original] == plain.hash)
        #expect(original.quality == plain.quality)
        let forms: [(String, Dihedral)] = [
            ("bridge-2-rotate-90.jpg", .rotate90), ("bridge-3-rotate-180.jpg", .rotate180), ("bridge-4-rotate-270.jpg", .rotate270),
            ("bridge-5-flipx.jpg", .flipX), ("bridge-6-flipy.jpg", .flipY), ("bridge-7-flip-plus-1.jpg", .flipPlus1),
            ("bridge-8-flip-minus-1.jpg", .flipMinus1),
        ]
        for (name, form) in forms {
            let copy = try MediaHasher.imageSignature(bytes: MediaFixtures.bytes("pdq/reg-test-input/dih/" + name)).hash
            #expect(copy.distance(to: plain.hash) > PDQHash.matchDistance, "\(name) matched without its dihedral hash")
            let formed = try #require(original[form])
            #expect(formed.distance(to: copy) <= 8, "\(name): \(formed.distance(to: copy)) bits from the \(form) hash")
            #expect(original.closest(to: copy).distance <= 8)
        }
    }

    /// The EXIF orientation is applied before hashing: all four files store 4032x3024 pixels; tags 6 and 8 turn
    /// them a quarter (so the image is 3024 wide), and the hashes then agree with the reference's (checked above).
    @Test func exifOrientationIsApplied() throws {
        for (n, width, height) in [(1, 4032, 3024), (3, 4032, 3024), (6, 3024, 4032), (8, 3024, 4032)] {
            let size = try MediaHasher.withImage(bytes: MediaFixtures.bytes("pdq/reg-test-input/exif-rotn/exif-rotn-\(n).jpg")) { ($0.width, $0.height) }
            #expect(size == (width, height), "orientation \(n)")
        }
    }

    /// The same photo in every pixel mode and format Pillow writes lands near the original.
    @Test func everyPixelModeDecodes() throws {
        let folder = MediaFixtures.shared! + "/pdq/misc-images/modes"
        let original = try MediaHasher.imageSignature(bytes: MediaFixtures.bytes("pdq/misc-images/modes/original.jpg")).hash
        for name in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() {
            let hash = try MediaHasher.imageSignature(bytes: MediaFixtures.bytes("pdq/misc-images/modes/" + name)).hash
            #expect(hash.distance(to: original) <= PDQHash.matchDistance, "\(name)")
        }
    }
}
