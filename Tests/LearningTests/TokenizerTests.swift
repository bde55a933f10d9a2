import Testing

@testable import Learning

struct TokenizerTests {
    func tokens(_ text: String) -> [String] {
        var t = Tokenizer()
        t.tokenize(text)
        return t.tokens
    }

    @Test(arguments: [
        ("FREE m0ney!!!!!", ["free", "money", "!!!"]),
        ("ｆｒｅｅ ＭＯＮＥＹ", ["free", "money"]),  // full-width forms, NFKC
        ("𝐟𝐫𝐞𝐞", ["free"]),  // mathematical bold letters, NFKC
        ("fr\u{200B}ee mo\u{FEFF}ney", ["free", "money"]),  // zero-width characters
        ("fr\u{0435}\u{0435}", ["free"]),  // Cyrillic е inside a Latin word
        ("\u{0441}\u{043E}\u{0440}", ["\u{0441}\u{043E}\u{0440}"]),  // an all-Cyrillic word stays Cyrillic
        ("fr€e", ["free"]),
        ("freeeeeeee", ["freee"]),
        ("c l i c k here", ["click", "here"]),
        ("c.l.i.c.k", ["click"]),
        ("h3ll0 w0rld", ["hello", "world"]),
        ("c@sh pr1ze", ["cash", "prize"]),
        ("2nite", ["2nite"]),
        ("a b", []),
        ("I'm here", ["im", "here"]),
    ])
    func obfuscatedSpellingsNormalise(_ input: String, _ expected: [String]) {
        #expect(tokens(input) == expected)
    }

    @Test func classTokens() {
        #expect(tokens("Visit www.Example.com/path now") == ["visit", "<url>", "<url:example.com>", "example", "com", "now"])
        #expect(tokens("see https://t.co/abc") == ["see", "<url>", "<url:t.co>", "co"])
        #expect(tokens("go to bit.ly/x") == ["go", "to", "<url>", "<url:bit.ly>", "bit", "ly"])
        #expect(tokens("mail me@x.com") == ["mail", "<email>", "me", "com"])
        #expect(tokens("@john hi") == ["<mention>", "hi"])
        #expect(tokens("call 09061701461 now") == ["call", "<num8>", "09061701461", "now"])
        #expect(tokens("win £100") == ["win", "<money>", "<num3>", "100"])
        #expect(tokens("win $5") == ["win", "<money>", "<num1>"])
        #expect(tokens("lol 😂") == ["lol", "<emoji>", "😂"])
        #expect(tokens("a &amp; b &#128514;") == ["<emoji>", "😂"])
        #expect(tokens("e.g. this") == ["this"])  // not a domain ("g" is no TLD); lone letters drop
    }

    @Test func charChunksKeepWhatWordsReplace() {
        var t = Tokenizer()
        t.tokenize("Call 0800-123 at www.x.com!!!!")
        let chunks = (0..<t.chunkStarts.count).map {
            String(decoding: t.chunkBuffer[Int(t.chunkStarts[$0])..<Int(t.chunkEnds[$0])], as: UTF8.self)
        }
        #expect(chunks == ["call", "0800-123", "at", "www.x.com!!!"])
    }

    @Test func controlCharactersNeverSurvive() {
        // Control characters read as spaces, so the three letters join as a spaced-out word.
        #expect(tokens("a\u{1}b\u{2}c hello\u{0}world") == ["abc", "hello", "world"])
        for token in tokens("x\u{1}\u{2}\u{7F}y \u{1}abc") {
            #expect(!token.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        }
    }

    @Test func nothingCrashesOnOddInput() {
        let odd = ["", " ", "&", "&#;", "&#99999999;", "&#x110000;", "@", "@@@", "www.", "http://", ".com", "...", "$", "$$$1", "@a@b",
                   "\u{FEFF}", "\u{200D}\u{200D}", "🏳️‍🌈", "e\u{301}", String(repeating: "a", count: 10_000), "1'2'3", "'''", "a'", "x@y.z"]
        for text in odd {
            var f = Featurizer(config: FeaturizerConfig())
            f.featurize(text, trace: true)
            #expect(f.origins.count == f.hashes.count)
        }
    }
}

extension TokenizerTests {
    /// Plain runs copied in one go give exactly what the byte-by-byte rules give: random texts full of the cases
    /// those rules handle (repeats, leet, apostrophes, markers, URLs, spaced-out letters) tokenised both ways.
    @Test func bulkCopiesGiveTheSameTokensAsByteByByte() {
        let pieces = ["free", "FREE", "m0ney", "fr33", "c@sh", "$5", "don't", "loooooool", "!!!!", "??", "aaaa", "aaa", "c l i c k",
                      "a", "b", "I", "www.win.com", "http://x.co/a?b", "mail@example.org", "@name", "&amp;", "&#128514;", "😂😂",
                      "€5", "£", "café", "straße", "ｆｒｅｅ", "0906170", "12", "tl;dr", "...", "x.y", "  ", "\n", "zzzz9", "bbb3e"]
        var rng = SplitMix64(seed: 42)
        var fast = Tokenizer(), slow = Tokenizer()
        slow.bulkCopies = false
        for _ in 0..<3_000 {
            let text = (0..<Int.random(in: 1...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }
                .joined(separator: Bool.random(using: &rng) ? " " : "")
            fast.tokenize(text)
            slow.tokenize(text)
            #expect(fast.buffer == slow.buffer, "\(text)")
            #expect(fast.starts == slow.starts && fast.ends == slow.ends && fast.kinds == slow.kinds, "\(text)")
            #expect(fast.chunkBuffer == slow.chunkBuffer && fast.chunkStarts == slow.chunkStarts && fast.chunkEnds == slow.chunkEnds, "\(text)")
        }
    }
}

struct FeaturizerTests {
    @Test func murmurMatchesPublishedVectors() {
        #expect(winnowHash("", seed: 0) == 0)
        #expect(winnowHash("", seed: 1) == 0x514E_28B7)
        #expect(winnowHash("The quick brown fox jumps over the lazy dog", seed: 0) == 0x2E4F_F723)
        #expect(winnowHash("Hello, world!", seed: 1234) == 0xFAF6_CDB3)
    }

    @Test func featuresAreDeterministicAcrossInstances() {
        let text = "WIN a FREE prize!!! Call 09061701461 or visit www.win.com 😂"
        var a = Featurizer(config: FeaturizerConfig())
        var b = Featurizer(config: FeaturizerConfig())
        a.featurize(text)
        b.featurize("something else first")
        b.featurize(text)
        #expect(a.hashes == b.hashes)
        #expect(a.uniqueHashes == b.uniqueHashes)
        #expect(a.counts == b.counts)
        // The unigram "free" hashes with the configured seed.
        #expect(a.hashes.contains(winnowHash("free", seed: FeaturizerConfig().seed)))
    }

    @Test func featureCountsFollowTheConfiguration() {
        var f = Featurizer(config: FeaturizerConfig(wordNgramMax: 2, charNgramMin: 2, charNgramMax: 3))
        f.featurize("ab cd")
        // Words: ab, cd, "ab cd" = 3. Chunks " ab " and " cd ": 3 bigrams + 2 trigrams each = 10.
        #expect(f.wordFeatureCount == 3)
        #expect(f.charFeatureCount == 10)
        #expect(f.counts.reduce(0, +) == 13)
    }

    /// The word block, for each token in order: the token's hash, then the hashes of the n-grams ending at it
    /// (each combining the previous order's hash with the token that starts it), with origins to match.
    @Test(arguments: [1, 2, 3]) func wordFeaturesAreTokensThenTheNgramsEndingAtThem(maxOrder: Int) {
        let config = FeaturizerConfig(wordNgramMax: maxOrder, charNgramMin: 2, charNgramMax: 3)
        var f = Featurizer(config: config)
        for text in ["", "one", "WIN a FREE prize now call 0906 1701 461", "the the the cat sat on the mat again and again"] {
            f.featurize(text, trace: true)
            let tokens = f.tokenizer.tokens
            var expected: [UInt32] = [], spans: [(FeatureOrigin.Kind, String)] = []
            for t in tokens.indices {
                let h = winnowHash(tokens[t], seed: config.seed)
                expected.append(h)
                spans.append((.word, tokens[t]))
                var g = h
                for order in stride(from: 2, through: maxOrder, by: 1) where t - order + 1 >= 0 {
                    g = combineHashes(winnowHash(tokens[t - order + 1], seed: config.seed), g, seed: config.seed &+ UInt32(order))
                    expected.append(g)
                    spans.append((.ngram, tokens[(t - order + 1)...t].joined(separator: " ")))
                }
            }
            #expect(Array(f.hashes.prefix(f.wordFeatureCount)) == expected, "\(text)")
            #expect(f.origins.count == f.hashes.count)
            for (origin, span) in zip(f.origins.prefix(f.wordFeatureCount), spans) {
                #expect(origin.kind == span.0 && f.text(of: origin) == span.1, "\(text)")
            }
        }
    }

    @Test func tracedFeaturesHaveReadableText() {
        var f = Featurizer(config: FeaturizerConfig(charNgramMin: 3, charNgramMax: 3))
        f.featurize("free cash", trace: true)
        let texts = Set(f.origins.map { f.text(of: $0) })
        #expect(texts.contains("free"))
        #expect(texts.contains("free cash"))
        #expect(texts.contains("_fr"))
        #expect(texts.contains("sh_"))
    }

    @Test func invalidConfigurationsAreRefused() {
        #expect(throws: LearningError.self) { try FeaturizerConfig(bucketBits: 30).validate() }
        #expect(throws: LearningError.self) { try FeaturizerConfig(wordNgramMax: 0).validate() }
        #expect(throws: LearningError.self) { try FeaturizerConfig(charNgramMin: 4, charNgramMax: 2).validate() }
        var future = FeaturizerConfig()
        future.version = 99
        #expect(throws: LearningError.self) { try future.checkCompatible() }
    }
}

struct TokenizerFuzzTests {
    /// Random strings over tricky scalars (marks, joiners, surrogate-range neighbours, controls, emoji):
    /// featurizing never crashes and traced features always map back to text.
    @Test func randomUnicodeNeverCrashes() {
        let scalars: [Unicode.Scalar] = ["a", "Z", "0", "7", "@", "$", "€", "£", "&", "#", ";", ".", "/", ":", " ", "\n", "\u{0}", "\u{1}",
            "\u{2}", "\u{7F}", "\u{301}", "\u{200B}", "\u{200D}", "\u{FE0F}", "\u{FEFF}", "\u{0435}", "\u{03BF}", "\u{FF41}", "\u{1D41F}",
            "\u{1F602}", "\u{1F3FB}", "\u{E0061}", "\u{10FFFF}", "\u{D7FF}", "\u{E000}", "'", "!", "?", "w", "h", "t", "p", "s"]
        var rng = SplitMix64(seed: 5)
        var featurizer = Featurizer(config: FeaturizerConfig(charNgramMin: 1, charNgramMax: 6))
        for _ in 0..<2000 {
            var text = String.UnicodeScalarView()
            for _ in 0..<Int(rng.next() % 40) { text.append(scalars[Int(rng.next() % UInt64(scalars.count))]) }
            featurizer.featurize(String(text), trace: true)
            #expect(featurizer.origins.count == featurizer.hashes.count)
            for origin in featurizer.origins { _ = featurizer.text(of: origin) }
        }
    }
}
