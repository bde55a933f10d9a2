import Engine
import Foundation
import Learning
import Testing

/// The banks' index against brute force: multi-index hashing must find exactly the hashes within 31 bits, whatever
/// the size, and the text bands the signatures a scan would find.
@Suite struct BankIndexTests {
    typealias Generator = SplitMix64

    static func random(_ g: inout Generator) -> PDQHash { PDQHash(words: (g.next(), g.next(), g.next(), g.next())) }

    /// `hash` with `bits` distinct bits flipped.
    static func flipped(_ hash: PDQHash, bits: Int, _ g: inout Generator) -> PDQHash {
        var positions = Set<Int>()
        while positions.count < bits { positions.insert(Int(g.next() % 256)) }
        return PDQHash { hash[bit: $0] != positions.contains($0) }
    }

    static func bank(_ name: String, action: Action = .remove, feeds: [String]? = nil) -> Bank {
        Bank(name: name, label: "spam", action: action, feeds: feeds, createdBy: "test", createdAt: Date(timeIntervalSince1970: 0))
    }

    @Test func hexRoundTripsInTheReferenceBitOrder() throws {
        let hex = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
        let hash = try #require(PDQHash(hex: hex))
        #expect(hash.hex == hex)
        #expect(PDQHash(hex: hex.uppercased()) == hash)
        // Bit 255 is the first digit's high bit (f = 1111), bit 0 the last digit's low bit (2 = 0010).
        #expect(hash[bit: 255] && hash[bit: 252] && !hash[bit: 0] && hash[bit: 1])
        #expect(hash.piece(0) == 0xf8f8 && hash.piece(15) == 0x9b22)
        #expect(PDQHash(hex: String(hex.dropLast())) == nil && PDQHash(hex: String(hex.dropLast()) + "g") == nil)
        #expect(PDQHash(bits: { hash[bit: $0] }) == hash)
    }

    @Test func automaticBanksAreNamedOnePerFeedAndLabel() {
        #expect(Bank.automaticName(feed: "default", label: "spam") == "default-spam-removed")
        let names = [("default", "Spam"), ("default", "spam"), ("default", "hate speech"), ("default", "hate-speech"),
                     (String(repeating: "f", count: 60), "spam"), (String(repeating: "f", count: 60), "spamlink"), ("-odd", "spam")]
            .map { Bank.automaticName(feed: $0.0, label: $0.1) }
        #expect(Set(names).count == names.count, "\(names)")
        #expect(names.allSatisfy(Bank.isValidName), "\(names)")
    }

    /// `folding` true: the recent table is folded as entries come (several folds); false: all 20,000 stay recent
    /// until the caller folds them (as `BankService` does, outside its lock), and the answers are the same either
    /// side of that fold.
    @Test(arguments: [true, false])
    func multiIndexHashingFindsExactlyTheHashesWithin31Bits(folding: Bool) {
        var g = Generator(seed: 7)
        var index = BankIndex()
        index.upsert(Self.bank("b"))
        var stored: [PDQHash] = []
        // 20,000 random hashes and, for the queries, copies 0-40 bits away.
        for id in 1...20_000 {
            let hash = Self.random(&g)
            stored.append(hash)
            index.add(BankEntry(id: Int64(id), bank: "b", signature: .image(ImageSignature(hash: hash, quality: 100)), addedBy: "t", addedAt: Date()),
                      folding: folding)
        }
        #expect(index.needsFold == !folding)
        var found = 0
        for q in 0..<400 {
            let target = stored[Int(g.next() % UInt64(stored.count))]
            let query = q % 2 == 0 ? Self.flipped(target, bits: Int(g.next() % 41), &g) : Self.random(&g)
            let expected = Set(stored.enumerated().filter { $0.element.distance(to: query) <= 31 }.map { Int64($0.offset + 1) })
            let got = index.imageMatches(query)
            #expect(Set(got.map(\.0.entry)) == expected, "query \(q)")
            for (owner, distance) in got { #expect(distance == stored[Int(owner.entry - 1)].distance(to: query)) }
            if !folding, q % 50 == 0 {
                var folded = index
                folded.foldIfNeeded()
                #expect(!folded.needsFold)
                #expect(Set(folded.imageMatches(query).map(\.0.entry)) == expected, "query \(q) after the fold")
            }
            found += expected.count
        }
        #expect(found > 100)  // the test reached hashes within the distance, not only misses
    }

    @Test func removedEntriesAndBanksStopMatchingAndFeedsAreRespected() {
        var g = Generator(seed: 11)
        var index = BankIndex()
        index.upsert(Self.bank("everywhere"))
        index.upsert(Self.bank("sms-only", action: .review, feeds: ["sms"]))
        let a = Self.random(&g), b = Self.random(&g)
        index.add(BankEntry(id: 1, bank: "everywhere", signature: .image(ImageSignature(hash: a, quality: 90)), addedBy: "t", addedAt: Date()))
        index.add(BankEntry(id: 2, bank: "sms-only", signature: .image(ImageSignature(hash: b, quality: 90)), addedBy: "t", addedAt: Date()))
        // A low-quality hash is never indexed.
        index.add(BankEntry(id: 3, bank: "everywhere", signature: .image(ImageSignature(hash: b, quality: 20)), addedBy: "t", addedAt: Date()))
        let nearB = ItemSignatures(media: [.image(ImageSignature(hash: Self.flipped(b, bits: 12, &g), quality: 80))])
        #expect(index.match(feed: "default", signatures: nearB) == nil)
        let smsMatch = index.match(feed: "sms", signatures: nearB)
        #expect(smsMatch?.entry == 2 && smsMatch?.distance == 12 && smsMatch?.action == .review && smsMatch?.media == 0)
        let nearA = ItemSignatures(media: [.image(ImageSignature(hash: Self.flipped(a, bits: 30, &g), quality: 80))])
        #expect(index.match(feed: "default", signatures: nearA)?.entry == 1)
        // A query of low quality matches nothing.
        #expect(index.match(feed: "default", signatures: ItemSignatures(media: [.image(ImageSignature(hash: a, quality: 10))])) == nil)
        index.remove(entries: [1])
        #expect(index.match(feed: "default", signatures: nearA) == nil)
        index.remove(bank: "sms-only")
        #expect(index.match(feed: "sms", signatures: nearB) == nil)
        #expect(index.entryCount == 0)
    }

    @Test func theMostSevereMatchWins() {
        var g = Generator(seed: 3)
        var index = BankIndex()
        index.upsert(Self.bank("review-me", action: .review))
        index.upsert(Self.bank("remove-me", action: .remove))
        let hash = Self.random(&g)
        index.add(BankEntry(id: 1, bank: "review-me", signature: .image(ImageSignature(hash: hash, quality: 90)), addedBy: "t", addedAt: Date()))
        index.add(BankEntry(id: 2, bank: "remove-me", signature: .image(ImageSignature(hash: Self.flipped(hash, bits: 20, &g), quality: 90)),
                            addedBy: "t", addedAt: Date()))
        let match = index.match(feed: "f", signatures: ItemSignatures(media: [.image(ImageSignature(hash: hash, quality: 90))]))
        #expect(match?.bank == "remove-me" && match?.distance == 20)
    }

    @Test func textSignaturesMatchObfuscatedCopiesAndNotOtherPosts() throws {
        var tokenizer = Tokenizer()
        let original = "Claim your free money now at the link below, limited offer for winners only"
        let copies = [
            "CLAIM your fr€e m0ney now at the link below, limited offer for winners only!!!",
            "c l a i m your free money now at the link below limited offer for winners only",
            "Claim your frее mоney now at the link below, limited offer for winners only",  // Cyrillic е and о
            "Claim your free money now at the link below, limited offer for all winners only",
        ]
        let unrelated = [
            "The council meets on Tuesday to discuss the new library opening hours",
            "I can't believe how good the match was last night, what a goal",
            "Claim your prize? No thanks, I only trust the bank's own website",
        ]
        let signature = try #require(TextSignature(text: original, tokenizer: &tokenizer))
        var index = BankIndex()
        index.upsert(Self.bank("scams"))
        index.add(BankEntry(id: 1, bank: "scams", signature: .text(signature), addedBy: "t", addedAt: Date()))
        for copy in copies {
            let s = try #require(TextSignature(text: copy, tokenizer: &tokenizer))
            #expect(s.matches(signature), "\(copy): similarity \(s.similarity(to: signature))")
            #expect(index.match(feed: "f", signatures: ItemSignatures(text: s))?.entry == 1, "\(copy)")
        }
        for other in unrelated {
            let s = try #require(TextSignature(text: other, tokenizer: &tokenizer))
            #expect(!s.matches(signature), "\(other): similarity \(s.similarity(to: signature))")
            #expect(index.match(feed: "f", signatures: ItemSignatures(text: s)) == nil)
        }
        // Too short to sign; and the stored form round-trips.
        #expect(TextSignature(text: "thank you", tokenizer: &tokenizer) == nil)
        #expect(TextSignature(hex: signature.hex) == signature)
        #expect(signature.similarity(to: signature) == 1)
    }

    /// An image Winnow hashed carries its seven other orientations: an entry near any of them matches, at its closest
    /// orientation, and says which; a feed's own hash (no orientations) matches only as it is. Waves compare the same
    /// way, from either side; the orientations survive the store's JSON; a bank entry keeps the plain hash.
    @Test func imagesMatchInAnyOrientationTheyCarry() throws {
        var g = Generator(seed: 11)
        let plain = Self.random(&g)
        let orientations = (0..<7).map { _ in Self.random(&g) }
        let item = ImageSignature(hash: plain, quality: 90, orientations: orientations)
        #expect(item[.original] == plain && item[.flipY] == orientations[4] && item.plain[.rotate90] == nil)
        var index = BankIndex()
        index.upsert(Self.bank("photos"))
        // The entry is the photo mirrored left to right (flipY, the fifth of the seven), 6 bits off.
        let mirrored = Self.flipped(orientations[4], bits: 6, &g)
        index.add(BankEntry(id: 1, bank: "photos", signature: .image(ImageSignature(hash: mirrored, quality: 80)), addedBy: "t", addedAt: Date(timeIntervalSince1970: 0)))
        let match = try #require(index.match(feed: "f", signatures: ItemSignatures(media: [.image(item)])))
        #expect(match.entry == 1 && match.distance == 6 && match.orientation == .flipY)
        #expect(match.summary == "bank photos v1, entry 1, image 0 distance 6 mirrored left to right")
        #expect(index.match(feed: "f", signatures: ItemSignatures(media: [.image(item.plain)])) == nil)
        // The plain hash itself, 3 bits off, is closer than the orientation: no orientation is named.
        index.add(BankEntry(id: 2, bank: "photos", signature: .image(ImageSignature(hash: Self.flipped(plain, bits: 3, &g), quality: 80)), addedBy: "t", addedAt: Date(timeIntervalSince1970: 0)))
        let closer = try #require(index.match(feed: "f", signatures: ItemSignatures(media: [.image(item)])))
        #expect(closer.entry == 2 && closer.distance == 3 && closer.orientation == nil)

        let copy = ItemSignatures(media: [.image(ImageSignature(hash: mirrored, quality: 90))])
        #expect(ItemSignatures(media: [.image(item)]).matches(copy) && copy.matches(ItemSignatures(media: [.image(item)])))
        #expect(!ItemSignatures(media: [.image(item.plain)]).matches(copy))

        let stored = try JSONDecoder().decode(ItemSignatures.self, from: JSONEncoder().encode(ItemSignatures(media: [.image(item)])))
        #expect(stored.media == [.image(item)])
        #expect(ItemSignatures(media: [.image(item)]).bankable == [.image(item.plain)])
        let decoded = try JSONDecoder().decode(BankMatch.self, from: JSONEncoder().encode(match))
        #expect(decoded == match)
        #expect(String(decoding: try JSONEncoder().encode(Dihedral.flipPlus1), as: UTF8.self) == "\"flipPlus1\"")
    }

    @Test func videosMatchThroughTheirFrames() {
        var g = Generator(seed: 5)
        let frames = (0..<20).map { VideoFrameSignature(frame: $0, seconds: Double($0), hash: Self.random(&g), quality: 90) }
        var index = BankIndex()
        index.upsert(Self.bank("clips"))
        index.add(BankEntry(id: 9, bank: "clips", signature: .video(frames), addedBy: "t", addedAt: Date()))
        // Re-encoded: every frame a few bits off.
        let copy = frames.map { VideoFrameSignature(frame: $0.frame, seconds: $0.seconds, hash: Self.flipped($0.hash, bits: 10, &g), quality: 80) }
        let match = index.match(feed: "f", signatures: ItemSignatures(media: [.image(ImageSignature(hash: Self.random(&g), quality: 90)), .video(copy)]))
        #expect(match?.entry == 9 && match?.kind == .video && match?.media == 1 && match?.similarity == 1)
        // The first half of it only: not a copy of the whole.
        #expect(index.match(feed: "f", signatures: ItemSignatures(media: [.video(Array(copy.prefix(10)))])) == nil)
    }
}
