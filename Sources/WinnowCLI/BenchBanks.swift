import ArgumentParser
import Engine
import Foundation
import Simulation
import Learning
import Media
import Services
#if canImport(Glibc)
import Glibc
#endif

// `winnow bench signatures | banks | media`: the measurements behind the banks' design. Each writes its own marked
// section of BENCHMARKS.md with `--write`, so a rerun replaces its figures and leaves the others alone.

// MARK: - winnow bench signatures

/// `winnow bench signatures`: MinHash against SimHash as near-duplicate text signatures, measured on real posts.
///
/// Why a measurement: the two schemes fail differently. MinHash estimates the Jaccard similarity of the token set,
/// so one changed word moves a few of its 64 minima; SimHash sums every feature's bits, so in a short post one word
/// is a large share of the sum. Which keeps more near-copies at the same rate of false matches on real posts is an
/// empirical question, and this command answers it on the shared data.
struct BenchSignatures: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signatures",
        abstract: "Compare MinHash and SimHash text signatures: recall of near-copies and false matches on real posts.",
        discussion: """
            For every post of at least \(TextSignature.minimumTokens) tokens, three near-copies are made with a seeded \
            generator: two obfuscations the tokenizer undoes (leetspeak, € for e, a zero-width space, a word spelled \
            out letter by letter, case, a stretched letter, full-width letters, a Cyrillic look-alike), then zero, one \
            or two words dropped, inserted or replaced. Recall is the share of copies that match their original: \
            MinHash by TextSignature.matches and through a BankIndex of all originals (so missed LSH bands count), \
            SimHash at Hamming distances 3, 6 and 10. False matches are pairs of different posts that match, over all \
            pairs (MinHash also through the index); pairs whose normalised token sets are identical (retweets, real \
            duplicates) are left out. Each --data file is one set.

            Examples:
              winnow bench signatures \\
                  --data ../shared/datasets/davidson_hate_offensive/train.csv \\
                  --data ../shared/datasets/sms_spam/train.csv --write BENCHMARKS.md
              winnow bench signatures --data posts.csv --seed 7
            """)

    @Option(help: "A labelled or unlabelled data file (CSV or JSONL with a text column); repeat for more sets.")
    var data: [String] = []

    @Option(help: "Seed of the near-copy generator.")
    var seed: UInt64 = 1

    @Option(help: "A Markdown file whose signatures section (between its markers) is replaced by the figures.")
    var write: String?

    func validate() throws {
        guard !data.isEmpty else {
            throw ValidationError("Give at least one --data file, e.g. --data ../shared/datasets/sms_spam/train.csv.")
        }
    }

    /// One scheme's figures on one set.
    struct Row {
        var scheme: String
        /// Recall per variant: obfuscated only, plus one word changed, plus two.
        var recall: [Double]
        var falsePairs: Int
        var postsWithFalse: Int
        /// False pairs whose exact Jaccard similarity (tokens and bigrams) is below 0.5: the signature's error, not
        /// a near-duplicate the data holds under another token set.
        var falseBelowHalf: Int
    }

    struct SetFigures {
        var name: String
        var posts: Int
        var short: Int
        var excludedPairs: Int
        var identicalTokens: Double
        /// Per obfuscation: the share of obfuscated-only copies that got it and tokenise as their original.
        var byKind: String
        var unsigned: [Int]
        var rows: [Row]
        var seconds: Double
    }

    func run() throws {
        let clock = ContinuousClock()
        var sets: [SetFigures] = []
        for file in data {
            let start = clock.now
            let texts = try DataFileReader(labelOptional: true).read(file).map(\.text)
            var figures = measure(texts: texts)
            figures.name = Self.setName(file)
            figures.seconds = durationSeconds(clock.now - start)
            print(Self.table(figures))
            print("")
            sets.append(figures)
        }
        let markdown = Self.markdown(sets, seed: seed, files: data)
        if let write { try writeBenchSection(markdown, begin: Self.begin, end: Self.end, into: write) }
    }

    static let begin = "<!-- signatures-bench:begin -->", end = "<!-- signatures-bench:end -->"

    /// "davidson_hate_offensive/train.csv" from a path: the folder says which set it is.
    static func setName(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().lastPathComponent + "/" + url.lastPathComponent
    }

    func measure(texts: [String]) -> SetFigures {
        var tokenizer = Tokenizer()
        var minhash: [TextSignature] = []
        var simhash: [UInt64] = []
        var tokens: [[String]] = []
        var kept: [String] = []
        var short = 0
        for text in texts {
            guard let m = TextSignature(text: text, tokenizer: &tokenizer) else { short += 1; continue }
            let toks = tokenizer.tokens
            let s = SimHash64(text: text, tokenizer: &tokenizer)!
            minhash.append(m)
            simhash.append(s.value)
            tokens.append(toks)
            kept.append(text)
        }
        let n = kept.count
        var progress = ProgressBar(enabled: true)

        // Near-copies: three variants of every post (0, 1 and 2 words changed), each from its own seeded stream.
        let maker = NearCopies(vocabulary: NearCopies.vocabulary(of: kept))
        var index = BankIndex()
        let bank = Bank(name: "bench", label: "spam", action: .remove, createdBy: "bench", createdAt: Date(timeIntervalSince1970: 0))
        index.upsert(bank)
        for (i, signature) in minhash.enumerated() {
            index.add(BankEntry(id: Int64(i), bank: bank.name, signature: .text(signature), addedBy: "bench", addedAt: bank.createdAt))
        }
        let thresholds = [3, 6, 10]
        var hitsMatches = [0, 0, 0], hitsIndex = [0, 0, 0]
        var hitsSim = Array(repeating: [0, 0, 0], count: thresholds.count)
        var unsigned = [0, 0, 0]
        var identical = 0
        var kindCounts: [NearCopies.Obfuscation: (Int, Int)] = [:]
        for i in 0..<n {
            for edits in 0..<3 {
                var rng = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(i) << 2 ^ UInt64(edits))
                let (copy, kinds) = maker.copyWithKinds(of: kept[i], edits: edits, using: &rng)
                guard let m = TextSignature(text: copy, tokenizer: &tokenizer) else { unsigned[edits] += 1; continue }
                if edits == 0 {
                    let same = tokenizer.tokens == tokens[i]
                    if same { identical += 1 }
                    // Per obfuscation, leaving out copies whose other one is the stretched letter (never fully undone).
                    for kind in kinds where kind == .stretched || !kinds.contains(.stretched) {
                        kindCounts[kind, default: (0, 0)].0 += 1
                        if same { kindCounts[kind, default: (0, 0)].1 += 1 }
                    }
                }
                let s = SimHash64(text: copy, tokenizer: &tokenizer)!
                if m.matches(minhash[i]) { hitsMatches[edits] += 1 }
                if index.textMatches(m).contains(where: { $0.0.entry == Int64(i) }) { hitsIndex[edits] += 1 }
                let d = (s.value ^ simhash[i]).nonzeroBitCount
                for (t, threshold) in thresholds.enumerated() where d <= threshold { hitsSim[t][edits] += 1 }
            }
            if i % 512 == 0 { progress.update("near-copies", Double(i) / Double(n)) }
        }

        // Unrelated posts: pairs of different posts, less those of identical normalised token sets.
        var groupOf: [String: Int] = [:]
        let group = tokens.map { toks in
            let key = Set(toks).sorted().joined(separator: " ")
            if let g = groupOf[key] { return g }
            groupOf[key] = groupOf.count
            return groupOf.count - 1
        }
        var groupSizes = [Int](repeating: 0, count: groupOf.count)
        for g in group { groupSizes[g] += 1 }
        let excluded = groupSizes.reduce(0) { $0 + $1 * ($1 - 1) / 2 }
        var featureCache: [Int: Set<String>] = [:]
        func features(_ i: Int) -> Set<String> {
            if let f = featureCache[i] { return f }
            var f = Set(tokens[i])
            for k in tokens[i].indices.dropFirst() { f.insert(tokens[i][k - 1] + " " + tokens[i][k]) }
            featureCache[i] = f
            return f
        }
        func jaccard(_ i: Int, _ j: Int) -> Double {
            let a = features(i), b = features(j)
            return Double(a.intersection(b).count) / Double(a.union(b).count)
        }
        func row(_ scheme: String, _ hits: [Int], _ pairs: [(Int, Int)]) -> Row {
            var posts = Set<Int>()
            for (i, j) in pairs { posts.insert(i); posts.insert(j) }
            return Row(scheme: scheme, recall: hits.map { Double($0) / Double(max(1, n)) }, falsePairs: pairs.count, postsWithFalse: posts.count,
                       falseBelowHalf: pairs.filter { jaccard($0.0, $0.1) < 0.5 }.count)
        }

        // MinHash, every pair, on whole signatures (`matches`), eight bytes at a time.
        let words: [UInt64] = minhash.flatMap { sig in
            (0..<8).map { w in (0..<8).reduce(UInt64(0)) { $0 | UInt64(sig.bytes[w * 8 + $1]) << UInt64($1 * 8) } }
        }
        let needEqual = (0...TextSignature.count).first { equal in
            max(0, (Double(equal) / Double(TextSignature.count) - 1.0 / 256) / (1 - 1.0 / 256)) >= TextSignature.matchSimilarity
        }!
        @inline(__always) func equalBytes(_ i: Int, _ j: Int, _ w: UnsafeBufferPointer<UInt64>) -> Int {
            var equal = 0
            for k in 0..<8 {
                let x = w[i * 8 + k] ^ w[j * 8 + k]
                let y = ~(((x & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F) | x | 0x7F7F_7F7F_7F7F_7F7F)
                equal += y.nonzeroBitCount
            }
            return equal
        }
        var minPairs: [(Int, Int)] = []
        var simPairs: [(Int, Int, Int)] = []
        let maxThreshold = thresholds.max()!
        words.withUnsafeBufferPointer { w in
            simhash.withUnsafeBufferPointer { sh in
                for i in 0..<n {
                    for j in (i + 1)..<max(i + 1, n) {
                        if equalBytes(i, j, w) >= needEqual && group[i] != group[j] { minPairs.append((i, j)) }
                        let d = (sh[i] ^ sh[j]).nonzeroBitCount
                        if d <= maxThreshold && group[i] != group[j] { simPairs.append((i, j, d)) }
                    }
                    if i % 256 == 0 { progress.update("all pairs", Double(i) * Double(2 * n - i) / (Double(n) * Double(n))) }
                }
                // The shortcut must agree with `matches`.
                for i in 0..<min(n, 300) {
                    for j in 0..<min(n, 300) {
                        precondition((equalBytes(i, j, w) >= needEqual) == minhash[i].matches(minhash[j]), "byte-count shortcut disagrees with matches")
                    }
                }
            }
        }
        // MinHash through the index: each post against a bank of all the others.
        var indexPairs: [(Int, Int)] = []
        for i in 0..<n {
            for (owner, _) in index.textMatches(minhash[i]) {
                let j = Int(owner.entry)
                if j > i && group[i] != group[j] { indexPairs.append((i, j)) }
            }
        }
        progress.finish()
        var rows = [row("MinHash, `matches` (J ≥ 0.5)", hitsMatches, minPairs), row("MinHash through BankIndex (16 bands × 4)", hitsIndex, indexPairs)]
        for (t, threshold) in thresholds.enumerated() {
            rows.append(row("SimHash, distance ≤ \(threshold)", hitsSim[t], simPairs.filter { $0.2 <= threshold }.map { ($0.0, $0.1) }))
        }
        let byKind = NearCopies.Obfuscation.allCases.map { kind in
            let (applied, same) = kindCounts[kind] ?? (0, 0)
            return "\(kind) \(Self.percent(Double(same) / Double(max(1, applied))))"
        }.joined(separator: ", ")
        return SetFigures(name: "", posts: n, short: short, excludedPairs: excluded, identicalTokens: Double(identical) / Double(max(1, n)),
                          byKind: byKind, unsigned: unsigned, rows: rows, seconds: 0)
    }

    static func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }

    static func table(_ f: SetFigures) -> String {
        let pairs = f.posts * (f.posts - 1) / 2
        var out = """
            ### \(f.name): \(f.posts.formatted()) posts with a signature (\(f.short.formatted()) under \(TextSignature.minimumTokens) tokens left out)

            | scheme | recall, obfuscated | + 1 word changed | + 2 words changed | false-match pairs | posts with a false match | of those pairs, exact Jaccard < 0.5 |
            |---|---:|---:|---:|---:|---:|---:|

            """
        for r in f.rows {
            out += "| \(r.scheme) | \(percent(r.recall[0])) | \(percent(r.recall[1])) | \(percent(r.recall[2])) | \(r.falsePairs.formatted()) | \(r.postsWithFalse.formatted()) (\(percent(Double(r.postsWithFalse) / Double(max(1, f.posts))))) | \(r.falseBelowHalf.formatted()) |\n"
        }
        out += """

            \(pairs.formatted()) pairs, of which \(f.excludedPairs.formatted()) with identical normalised token sets are left out. \
            \(percent(f.identicalTokens)) of the obfuscated-only copies tokenise exactly as their original (by obfuscation, among copies whose \
            other obfuscation is not the stretched letter: \(f.byKind)); copies left under \
            \(TextSignature.minimumTokens) tokens (counted as misses): \(f.unsigned.map { $0.formatted() }.joined(separator: " / ")). \
            \(verdict(f)) (\(String(format: "%.0f", f.seconds)) s.)
            """
        return out
    }

    /// The comparison in one sentence, from the figures: SimHash's best recall (one word changed) among the
    /// thresholds that make no more false matches than MinHash through the index, against MinHash's.
    static func verdict(_ f: SetFigures) -> String {
        let minhash = f.rows[1]
        let sims = f.rows.dropFirst(2)
        let comparable = sims.filter { $0.falsePairs <= minhash.falsePairs }
        guard let best = comparable.max(by: { $0.recall[1] < $1.recall[1] }) else {
            return "Every SimHash threshold measured makes more false matches than MinHash through the index (\(minhash.falsePairs.formatted()) pairs)."
        }
        let winner = best.recall[1] > minhash.recall[1] ? "SimHash" : "MinHash"
        return "At no more false matches (\(best.scheme): \(best.falsePairs.formatted()) pairs, \(best.falseBelowHalf.formatted()) of them under 0.5 exact Jaccard; "
            + "MinHash through the index: \(minhash.falsePairs.formatted()), \(minhash.falseBelowHalf.formatted()) under 0.5), "
            + "one word changed: SimHash keeps \(percent(best.recall[1])), MinHash \(percent(minhash.recall[1])): \(winner) keeps more."
    }

    static func markdown(_ sets: [SetFigures], seed: UInt64, files: [String]) -> String {
        let day = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        let command = "winnow bench signatures " + sets.map { "--data $(SHARED)/datasets/\($0.name)" }.joined(separator: " ") + " --seed \(seed) --write BENCHMARKS.md"
        return """
            \(begin)
            ## Text signatures: MinHash against SimHash

            Produced by `make bench` (`\(command)`, data from ../shared/datasets, release build) on \(day): \(machineDescription()). \
            Both schemes summarise the same set: the classifier tokenizer's tokens and word bigrams. MinHash = `TextSignature` \
            (64 one-byte minima, a match at estimated Jaccard ≥ \(TextSignature.matchSimilarity)); SimHash = `SimHash64` (64 bits).

            Near-copies, three of every post, from a seeded generator (SplitMix64, seed \(seed), one stream per post and variant): \
            two different obfuscations drawn uniformly from eight, each on one word drawn uniformly among the words it applies to \
            (leetspeak `o→0`/`e→3` inside the word; `€` for an inner `e`; a zero-width space inside the word; the word spelled out \
            `c l i c k`; case: the whole post upper-cased or one word in alternating case, even odds; one letter stretched to six, \
            which the tokenizer cuts to three, so that word still differs unless it already had three; the word in full-width letters; \
            one letter swapped for its Cyrillic look-alike), after 0, 1 or 2 word edits, each edit a drop, an insertion or a \
            replacement with equal odds (a drop becomes a replacement in posts of four words or fewer; inserted and replacing words \
            are drawn by frequency from the set's own words). Recall = the copy matches its original: MinHash by `matches`, and \
            through a `BankIndex` of all the originals (a copy is found only if it shares one of 16 band keys); SimHash by Hamming \
            distance. False matches: every pair of different posts of the set, MinHash by `matches` over all pairs and through the \
            index (each post queried against the bank of all posts), SimHash over all pairs; pairs whose sets of normalised tokens \
            are identical (retweets, copies that differ in case or punctuation) are left out, as the data's own duplicates. The last \
            column splits the false pairs: exact Jaccard of the two posts' token-and-bigram sets below 0.5 is the signature's error; \
            the rest are near-duplicates the data itself holds (a retweet with a comment, a template SMS).

            \(sets.map(table).joined(separator: "\n\n"))
            \(end)
            """
    }
}

// MARK: - winnow bench banks

/// `winnow bench banks`: the index's match latency and memory at a million entries, PDQ and text.
///
/// Why: a bank check runs before the classifier on every item, so its latency adds to every request, and the whole
/// index sits in each node's memory. Random PDQ hashes spread evenly over the index's buckets; real banks are
/// lumpier, so the figures are for the even case.
struct BenchBanks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "banks",
        abstract: "Measure BankIndex match latency, build time and memory with a million PDQ hashes and a million text signatures.",
        discussion: """
            Builds a BankIndex of --entries random PDQ hashes and times --queries matches through BankIndex.match \
            (half near-copies of stored hashes, 0 to 31 bits flipped, half random hashes), after checking a sample of \
            queries against a brute-force scan. Then builds one of --entries text signatures: the texts of the --data \
            files, topped up with random texts (4 to 25 words drawn by frequency from the same files), and times \
            near-copies of stored texts and unrelated random texts. Memory is the process's resident set (VmRSS) \
            before and after each build.

            Examples:
              winnow bench banks --entries 1000000 \\
                  --data ../shared/datasets/davidson_hate_offensive/train.csv \\
                  --data ../shared/datasets/sms_spam/train.csv --write BENCHMARKS.md
              winnow bench banks --entries 100000 --data texts.csv
            """)

    @Option(help: "Entries in each bank.") var entries = 1_000_000
    @Option(help: "Timed queries per bank (half near-copies, half unrelated).") var queries = 20_000
    @Option(help: "Queries checked against a brute-force scan of the PDQ bank.") var check = 500
    @Option(help: "Texts to sign for the text bank (CSV or JSONL); repeat for more files.") var data: [String] = []
    @Option(help: "Seed of the random hashes and texts.") var seed: UInt64 = 1
    @Option(help: "A Markdown file whose banks section (between its markers) is replaced by the figures.") var write: String?

    func validate() throws {
        guard (1_000...20_000_000).contains(entries) else { throw ValidationError("--entries must be between 1,000 and 20,000,000.") }
        guard (100...10_000_000).contains(queries) else { throw ValidationError("--queries must be between 100 and 10,000,000.") }
        guard (0...100_000).contains(check) else { throw ValidationError("--check must be between 0 and 100,000.") }
        guard !data.isEmpty else {
            throw ValidationError("Give at least one --data file of texts for the text bank, e.g. --data ../shared/datasets/sms_spam/train.csv.")
        }
    }

    struct Latency {
        var p50: Double, p99: Double, mean: Double
        init(_ microseconds: [Double]) {
            let s = microseconds.sorted()
            p50 = s[min(s.count - 1, s.count / 2)]
            p99 = s[min(s.count - 1, Int(Double(s.count) * 0.99))]
            mean = s.reduce(0, +) / Double(max(1, s.count))
        }
    }

    struct Figures {
        var kind: String
        var entries: Int
        var buildSeconds: Double
        var rssBefore: Double, rssAfter: Double
        var near: Latency, unrelated: Latency, all: Latency
        var nearFound: Double
        var unrelatedMatched: Double
        var note: String
        /// Unrelated queries carrying all eight orientations, as an image uploaded as bytes does (PDQ only).
        var oriented: Latency? = nil
    }

    func run() throws {
        let clock = ContinuousClock()
        let bank = Bank(name: "bench", label: "spam", action: .remove, createdBy: "bench", createdAt: Date(timeIntervalSince1970: 0))

        // PDQ: the hashes are kept outside the index too (for the queries and the brute-force check), before the
        // first reading of memory, so the difference is the index alone.
        var rng = SplitMix64(seed: seed)
        var hashes = [PDQHash]()
        hashes.reserveCapacity(entries)
        for _ in 0..<entries { hashes.append(PDQHash(words: (rng.next(), rng.next(), rng.next(), rng.next()))) }
        var pdq: Figures
        var checkResult: String
        do {
            trimHeap()
            let before = residentMegabytes()
            var index = BankIndex()
            index.upsert(bank)
            var progress = ProgressBar(enabled: true)
            let start = clock.now
            for (i, hash) in hashes.enumerated() {
                index.add(BankEntry(id: Int64(i), bank: bank.name, signature: .image(ImageSignature(hash: hash, quality: 100)), addedBy: "bench", addedAt: bank.createdAt))
                if i % 65536 == 0 { progress.update("PDQ bank", Double(i) / Double(entries)) }
            }
            let build = durationSeconds(clock.now - start)
            progress.finish()
            trimHeap()
            let after = residentMegabytes()

            func nearCopy(_ hash: PDQHash, bits: Int, using rng: inout SplitMix64) -> PDQHash {
                var positions = Set<Int>()
                while positions.count < bits { positions.insert(Int.random(in: 0..<256, using: &rng)) }
                return PDQHash { positions.contains($0) != hash[bit: $0] }
            }
            var queryRNG = SplitMix64(seed: seed ^ 0xBA5E)
            var nearQueries: [(PDQHash, Int)] = [], randomQueries: [PDQHash] = []
            for _ in 0..<(queries / 2) {
                let target = Int.random(in: 0..<entries, using: &queryRNG)
                nearQueries.append((nearCopy(hashes[target], bits: Int.random(in: 0...31, using: &queryRNG), using: &queryRNG), target))
                randomQueries.append(PDQHash(words: (queryRNG.next(), queryRNG.next(), queryRNG.next(), queryRNG.next())))
            }
            // Brute force on a sample: the same (entry, distance) answers, every one.
            var mismatches = 0
            let sample = Array(nearQueries.prefix(check / 2).map(\.0)) + Array(randomQueries.prefix(check - check / 2))
            for query in sample {
                let fromIndex = Set(index.imageMatches(query).map { "\($0.0.entry):\($0.1)" })
                var brute = Set<String>()
                for (i, hash) in hashes.enumerated() {
                    let d = hash.distance(to: query)
                    if d <= PDQHash.matchDistance { brute.insert("\(i):\(d)") }
                }
                if fromIndex != brute { mismatches += 1 }
            }
            checkResult = mismatches == 0 ? "exact" : "\(mismatches) of \(sample.count) queries differ from brute force"
            print("PDQ index against brute force on \(sample.count) queries: \(checkResult)")

            // Warm up, then time each query through BankIndex.match as stage 1 calls it.
            var sink = 0
            for (query, _) in nearQueries.prefix(500) { sink &+= index.match(feed: "f", signatures: ItemSignatures(media: [.image(ImageSignature(hash: query, quality: 100))]))?.distance ?? 0 }
            var nearTimes: [Double] = [], randomTimes: [Double] = []
            var found = 0, falseHits = 0
            for k in 0..<nearQueries.count {
                let (query, target) = nearQueries[k]
                let item = ItemSignatures(media: [.image(ImageSignature(hash: query, quality: 100))])
                var t0 = clock.now
                let m = index.match(feed: "f", signatures: item)
                nearTimes.append(durationSeconds(clock.now - t0) * 1e6)
                if m != nil, index.imageMatches(query).contains(where: { $0.0.entry == Int64(target) }) { found += 1 }
                let random = ItemSignatures(media: [.image(ImageSignature(hash: randomQueries[k], quality: 100))])
                t0 = clock.now
                let r = index.match(feed: "f", signatures: random)
                randomTimes.append(durationSeconds(clock.now - t0) * 1e6)
                if r != nil { falseHits += 1 }
                sink &+= (m?.distance ?? 0) &+ (r?.distance ?? 0)
            }
            // An image uploaded as bytes carries its eight orientations: eight lookups (unrelated: seven more random hashes).
            var orientationRNG = SplitMix64(seed: seed ^ 0xD1ED)
            var orientedTimes: [Double] = []
            for query in randomQueries {
                let orientations = (0..<7).map { _ in PDQHash(words: (orientationRNG.next(), orientationRNG.next(), orientationRNG.next(), orientationRNG.next())) }
                let item = ItemSignatures(media: [.image(ImageSignature(hash: query, quality: 100, orientations: orientations))])
                let t0 = clock.now
                let m = index.match(feed: "f", signatures: item)
                orientedTimes.append(durationSeconds(clock.now - t0) * 1e6)
                sink &+= m?.distance ?? 0
            }
            if sink == -1 { print("") }
            pdq = Figures(kind: "PDQ (random 256-bit hashes)", entries: entries, buildSeconds: build, rssBefore: before, rssAfter: after,
                          near: Latency(nearTimes), unrelated: Latency(randomTimes), all: Latency(nearTimes + randomTimes),
                          nearFound: Double(found) / Double(nearQueries.count), unrelatedMatched: Double(falseHits) / Double(randomQueries.count),
                          note: "near-copies: a stored hash with 0–31 random bits flipped (uniform); unrelated: random hashes; unrelated in eight orientations: a random hash with seven more, as an image uploaded as bytes is looked up",
                          oriented: Latency(orientedTimes))
            print(Self.line(pdq))
        }
        hashes = []

        // Text: real texts first, then random texts of the same words to reach `entries`.
        var texts: [String] = []
        for file in data { texts += try DataFileReader(labelOptional: true).read(file).map(\.text) }
        let vocabulary = NearCopies.vocabulary(of: texts)
        var tokenizer = Tokenizer()
        let realTexts = texts.filter { TextSignature(text: $0, tokenizer: &tokenizer) != nil }
        func randomText(using rng: inout SplitMix64) -> String {
            (0..<Int.random(in: 4...25, using: &rng)).map { _ in vocabulary[Int.random(in: 0..<vocabulary.count, using: &rng)] }.joined(separator: " ")
        }
        trimHeap()
        let before = residentMegabytes()
        var index = BankIndex()
        index.upsert(bank)
        var buildSeconds = 0.0
        var added = 0
        var progress = ProgressBar(enabled: true)
        var textRNG = SplitMix64(seed: seed ^ 0x7E47)
        let real = min(realTexts.count, entries)
        while added < entries {
            let text = added < real ? realTexts[added] : randomText(using: &textRNG)
            guard let signature = TextSignature(text: text, tokenizer: &tokenizer) else { continue }
            let entry = BankEntry(id: Int64(added), bank: bank.name, signature: .text(signature), addedBy: "bench", addedAt: bank.createdAt)
            let t0 = clock.now
            index.add(entry)
            buildSeconds += durationSeconds(clock.now - t0)
            added += 1
            if added % 65536 == 0 { progress.update("text bank", Double(added) / Double(entries)) }
        }
        progress.finish()
        trimHeap()
        let after = residentMegabytes()
        let maker = NearCopies(vocabulary: vocabulary)
        var queryRNG = SplitMix64(seed: seed ^ 0x9E37)
        var nearQueries: [(TextSignature, Int)] = [], unrelatedQueries: [TextSignature] = []
        while nearQueries.count < queries / 2 {
            let target = Int.random(in: 0..<real, using: &queryRNG)
            if let s = TextSignature(text: maker.copy(of: realTexts[target], edits: 1, using: &queryRNG), tokenizer: &tokenizer) { nearQueries.append((s, target)) }
        }
        while unrelatedQueries.count < queries / 2 {
            if let s = TextSignature(text: randomText(using: &queryRNG), tokenizer: &tokenizer) { unrelatedQueries.append(s) }
        }
        var sink = 0.0
        for (query, _) in nearQueries.prefix(500) { sink += index.match(feed: "f", signatures: ItemSignatures(text: query))?.similarity ?? 0 }
        var nearTimes: [Double] = [], unrelatedTimes: [Double] = []
        var found = 0, unrelatedHits = 0, unrelatedReal = 0
        for k in 0..<nearQueries.count {
            let (query, target) = nearQueries[k]
            var t0 = clock.now
            let m = index.match(feed: "f", signatures: ItemSignatures(text: query))
            nearTimes.append(durationSeconds(clock.now - t0) * 1e6)
            if m != nil, index.textMatches(query).contains(where: { $0.0.entry == Int64(target) }) { found += 1 }
            t0 = clock.now
            let r = index.match(feed: "f", signatures: ItemSignatures(text: unrelatedQueries[k]))
            unrelatedTimes.append(durationSeconds(clock.now - t0) * 1e6)
            if r != nil { unrelatedHits += 1 }
            if index.textMatches(unrelatedQueries[k]).contains(where: { $0.0.entry < Int64(real) }) { unrelatedReal += 1 }
            sink += (m?.similarity ?? 0) + (r?.similarity ?? 0)
        }
        if sink.isNaN { print("") }
        let text = Figures(kind: "text (MinHash signatures)", entries: entries, buildSeconds: buildSeconds, rssBefore: before, rssAfter: after,
                           near: Latency(nearTimes), unrelated: Latency(unrelatedTimes), all: Latency(nearTimes + unrelatedTimes),
                           nearFound: Double(found) / Double(nearQueries.count), unrelatedMatched: Double(unrelatedHits) / Double(unrelatedQueries.count),
                           note: "\(real.formatted()) real texts (\(data.map(BenchSignatures.setName).joined(separator: ", ")), ≥ \(TextSignature.minimumTokens) tokens) and \((entries - real).formatted()) random texts of 4–25 words drawn by frequency from the same files; near-copies: a stored real text with two obfuscations and one word edit (the `bench signatures` generator); unrelated: new random texts")
        print(Self.line(text))
        let markdown = Self.markdown([pdq, text], check: checkResult, checked: min(check, queries), queries: queries, command: commandLine(), textRealMatches: unrelatedReal)
        if let write { try writeBenchSection(markdown, begin: Self.begin, end: Self.end, into: write) }
    }

    func commandLine() -> String {
        "winnow bench banks --entries \(entries) --queries \(queries) " + data.map { "--data $(SHARED)/datasets/\(BenchSignatures.setName($0))" }.joined(separator: " ") + " --write BENCHMARKS.md"
    }

    static let begin = "<!-- banks-bench:begin -->", end = "<!-- banks-bench:end -->"

    static func us(_ x: Double) -> String { String(format: "%.1f µs", x) }

    static func line(_ f: Figures) -> String {
        "\(f.kind), \(f.entries.formatted()) entries: built in \(String(format: "%.1f", f.buildSeconds)) s, RSS \(String(format: "%.0f", f.rssBefore)) → \(String(format: "%.0f", f.rssAfter)) MiB; "
            + "near-copies p50 \(us(f.near.p50)) p99 \(us(f.near.p99)) mean \(us(f.near.mean)) (found \(BenchSignatures.percent(f.nearFound))); "
            + "unrelated p50 \(us(f.unrelated.p50)) p99 \(us(f.unrelated.p99)) mean \(us(f.unrelated.mean)) (matched \(BenchSignatures.percent(f.unrelatedMatched)))"
            + (f.oriented.map { "; unrelated in eight orientations p50 \(us($0.p50)) p99 \(us($0.p99))" } ?? "")
    }

    static func markdown(_ figures: [Figures], check: String, checked: Int, queries: Int, command: String, textRealMatches: Int) -> String {
        let day = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        var rows = ""
        for f in figures {
            for (name, l) in [("near-copies", f.near), ("unrelated", f.unrelated), ("all", f.all)] + (f.oriented.map { [("unrelated in eight orientations", $0)] } ?? []) {
                rows += "| \(f.kind) | \(name) | \(us(l.p50)) | \(us(l.p99)) | \(us(l.mean)) |\n"
            }
        }
        var memory = ""
        for f in figures {
            memory += "| \(f.kind) | \(f.entries.formatted()) | \(String(format: "%.1f s", f.buildSeconds)) | \(String(format: "%.0f", f.rssBefore)) MiB | \(String(format: "%.0f", f.rssAfter)) MiB | \(String(format: "%.0f", f.rssAfter - f.rssBefore)) MiB | \(BenchSignatures.percent(f.nearFound)) | \(BenchSignatures.percent(f.unrelatedMatched)) |\n"
        }
        return """
            \(begin)
            ## Banks: match latency and memory at \(figures[0].entries.formatted()) entries

            Produced by `make bench` (`\(command)`, release build) on \(day): \(machineDescription()), one thread. Each query is \
            `BankIndex.match(feed:signatures:)`, as stage 1 runs it, timed alone after 500 untimed ones; \((queries / 2).formatted()) \
            near-copies and \((queries / 2).formatted()) unrelated queries per bank. \(figures.map { "\($0.kind): \($0.note)." }.joined(separator: " ")) \
            Build time is the sum of the `add` calls (the text bank's signing is not counted). Memory: the process's VmRSS \
            (after `malloc_trim`) before and after building; the PDQ hashes themselves were already in memory before the first reading. \
            PDQ answers against a brute-force scan of all entries on \(checked.formatted()) of the queries: **\(check)**.

            | bank | queries | p50 | p99 | mean |
            |---|---|---:|---:|---:|
            \(rows)
            | bank | entries | build | RSS before | RSS after | index | near-copies found | unrelated queries matched |
            |---|---:|---:|---:|---:|---:|---:|---:|
            \(memory)
            Random PDQ hashes fill the 65,536 buckets of each of the 16 tables evenly (about 15 a bucket at a million); real \
            banks hold clusters of similar images, which make some buckets fuller and the queries that land there slower. \
            A random text's band keys collide with a stored text's only when they share four minima in a row, so unrelated \
            text queries check few candidates; near-copies not found are those that share no band with their original. The \
            unrelated text queries are themselves random texts of common words, and a short one can share half its set of \
            tokens and bigrams with a stored one: \(textRealMatches.formatted()) of the matched unrelated queries matched one of the real texts.
            \(end)
            """
    }
}

// MARK: - winnow bench media

/// `winnow bench media`: how fast one core hashes images and video, which bounds how many uploads a node can take.
struct BenchMedia: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "media",
        abstract: "Measure single-thread PDQ hashing speed of images and videos (1 frame per second).",
        discussion: """
            Hashes each --image in a loop for at least --seconds (decoding included, as an upload pays it) and reports \
            images per second, and decoding alone. Hashes each --video at one frame per second, as MediaHasher does for \
            uploads, and reports seconds of video hashed per second of work. A video's length is the last frame's time \
            plus one frame, read from its reference hash file (../hashes/NAME.txt beside the videos folder, as in \
            ../shared/media/vpdq) or, without one, from decoding every frame once (untimed).

            Examples:
              winnow bench media --image ../shared/media/pdq/bridge-mods/aaa-orig.jpg \\
                  --video ../shared/media/vpdq/videos/*.mp4 --write BENCHMARKS.md
              winnow bench media --image photo.jpg --seconds 5
            """)

    @Option(parsing: .upToNextOption, help: "JPEG, PNG or WebP images to hash (one or more).") var image: [String] = []
    @Option(parsing: .upToNextOption, help: "MP4 (or other FFmpeg-readable) videos to hash (one or more).") var video: [String] = []
    @Option(help: "Minimum measuring time per file, in seconds.") var seconds: Double = 3
    @Option(help: "A Markdown file whose media section (between its markers) is replaced by the figures.") var write: String?

    func validate() throws {
        guard !image.isEmpty || !video.isEmpty else {
            throw ValidationError("Give --image and/or --video files, e.g. --image ../shared/media/pdq/bridge-mods/aaa-orig.jpg --video ../shared/media/vpdq/videos/*.mp4.")
        }
        guard seconds > 0, seconds <= 600 else { throw ValidationError("Please give --seconds between 0 and 600; got \(seconds).") }
    }

    static func bytes(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandError("\(path) cannot be read; check the path (the shared media is in ../shared/media).")
        }
        return [UInt8](data)
    }

    func run() throws {
        let clock = ContinuousClock()
        var imageRows: [String] = []
        for path in image {
            let bytes = try Self.bytes(path)
            var width = 0, height = 0
            do {
                try MediaHasher.withImage(bytes: bytes) { image in width = image.width; height = image.height }
            } catch { throw CommandError("\(path): \(error)") }
            func loop(_ body: () throws -> Int) rethrows -> Double {
                _ = try body()
                var done = 0, sink = 0
                let start = clock.now
                var elapsed = 0.0
                repeat {
                    sink &+= try body()
                    done += 1
                    elapsed = durationSeconds(clock.now - start)
                } while elapsed < seconds
                if sink == -1 { print("") }
                return Double(done) / elapsed
            }
            // What an upload pays: the hash in all eight orientations (MediaIntake); the plain hash alone beside it.
            let hashed = try loop { try MediaHasher.dihedralSignatures(bytes: bytes).quality }
            let plain = try loop { try MediaHasher.imageSignature(bytes: bytes).quality }
            let decoded = try loop { try MediaHasher.withImage(bytes: bytes) { $0.width } }
            let megapixels = Double(width * height) / 1e6
            print("\(path): \(width)×\(height), \(bytes.count.formatted()) bytes: \(String(format: "%.1f", hashed)) images/s hashed in eight orientations (\(String(format: "%.1f", 1000 / hashed)) ms each; the plain hash \(String(format: "%.1f", 1000 / plain)) ms), decoding alone \(String(format: "%.1f", 1000 / decoded)) ms")
            imageRows.append("| \(URL(fileURLWithPath: path).lastPathComponent) | \(width)×\(height) (\(String(format: "%.2f", megapixels)) MP) | \(String(format: "%.0f", Double(bytes.count) / 1024)) KiB | \(String(format: "%.1f", hashed)) | \(String(format: "%.1f ms", 1000 / hashed)) | \(String(format: "%.1f ms", 1000 / plain)) | \(String(format: "%.1f ms", 1000 / decoded)) | \(String(format: "%.1f", hashed * megapixels)) |")
        }
        var videoRows: [String] = []
        var totalVideo = 0.0, totalWork = 0.0
        for path in video {
            let bytes = try Self.bytes(path)
            let length: Double
            let lengthSource: String
            if let reference = Self.referenceLength(path) {
                (length, lengthSource) = (reference, "reference")
            } else {
                let every = try MediaHasher.videoSignature(bytes: bytes, framesPerSecond: 1000)
                let step = every.count > 1 ? every[every.count - 1].seconds - every[every.count - 2].seconds : 0
                (length, lengthSource) = ((every.last?.seconds ?? 0) + step, "decoded")
            }
            var runs = 0, frames = 0
            let start = clock.now
            var elapsed = 0.0
            repeat {
                do { frames = try MediaHasher.videoSignature(bytes: bytes, framesPerSecond: 1).count } catch { throw CommandError("\(path): \(error)") }
                runs += 1
                elapsed = durationSeconds(clock.now - start)
            } while elapsed < seconds
            let perRun = elapsed / Double(runs)
            totalVideo += length
            totalWork += perRun
            print("\(path): \(String(format: "%.2f", length)) s of video (\(lengthSource)), \(frames) frames at 1/s, hashed in \(String(format: "%.3f", perRun)) s: \(String(format: "%.1f", length / perRun)) s of video per second")
            videoRows.append("| \(URL(fileURLWithPath: path).lastPathComponent) | \(bytes.count / 1024) KiB | \(String(format: "%.2f s", length)) | \(frames) | \(String(format: "%.3f s", perRun)) | \(String(format: "%.1f", length / perRun)) |")
        }
        if !video.isEmpty {
            print("all videos: \(String(format: "%.1f", totalVideo)) s of video in \(String(format: "%.2f", totalWork)) s: \(String(format: "%.1f", totalVideo / totalWork)) s of video per second")
        }
        let day = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        let command = "winnow bench media" + (image.isEmpty ? "" : " --image " + image.map(Self.shortPath).joined(separator: " "))
            + (video.isEmpty ? "" : " --video " + Self.shortPath(URL(fileURLWithPath: video[0]).deletingLastPathComponent().path) + "/*.mp4") + " --write BENCHMARKS.md"
        var markdown = """
            \(Self.begin)
            ## Media hashing speed

            Produced by `make bench` (`\(command)`, release build) on \(day): \(machineDescription()), one thread. Images: \
            `MediaHasher.dihedralSignatures` on the file's bytes in a loop for at least \(format(seconds, 0)) s (decoding with \
            libjpeg-turbo and the EXIF rotation included, and the hash in all eight orientations, as an upload pays it); \
            the plain hash alone is `MediaHasher.imageSignature`; decoding alone is `MediaHasher.withImage` with an empty body. The shared media has no 1920×1080 JPEG and the project does not install FFmpeg's command line \
            to make one, so the closest files stand in: the 1600×1004 photo (1.6 MP, 78% of 1080p's 2.07 MP) and a 4032×3024 \
            phone photo (12.2 MP); the last column lets one scale to 1080p. Videos: `MediaHasher.videoSignature` at one frame \
            per second (FFmpeg's libraries decode every frame; one in N is converted and hashed); the length is the last frame's \
            time plus one frame, from the clip's reference hash file.

            """
        if !imageRows.isEmpty {
            markdown += """

                | image | size | file | images/s | per image | plain hash alone | decoding alone | megapixels/s |
                |---|---|---:|---:|---:|---:|---:|---:|
                \(imageRows.joined(separator: "\n"))

                """
        }
        if !videoRows.isEmpty {
            markdown += """

                | video | file | length | frames hashed | time | seconds of video per second |
                |---|---:|---:|---:|---:|---:|
                \(videoRows.joined(separator: "\n"))
                | all | | \(String(format: "%.1f s", totalVideo)) | | \(String(format: "%.2f s", totalWork)) | \(String(format: "%.1f", totalVideo / totalWork)) |

                """
        }
        markdown += Self.end
        if let write { try writeBenchSection(markdown, begin: Self.begin, end: Self.end, into: write) }
    }

    static let begin = "<!-- media-bench:begin -->", end = "<!-- media-bench:end -->"

    /// "media/pdq/bridge-mods/aaa-orig.jpg" from a path under ../shared: the part a reader can find again.
    static func shortPath(_ path: String) -> String {
        let parts = URL(fileURLWithPath: path).standardized.pathComponents
        if let i = parts.lastIndex(of: "media") { return "$(SHARED)/" + parts[i...].joined(separator: "/") }
        return path
    }

    /// A video's length from its reference hash file (`frame,quality,hex,seconds` a line): the last frame's time
    /// plus one frame.
    static func referenceLength(_ path: String) -> Double? {
        let url = URL(fileURLWithPath: path)
        let name = url.deletingPathExtension().lastPathComponent
        let file = url.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("hashes/\(name).txt")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        let times = text.split(separator: "\n").compactMap { $0.split(separator: ",").last.flatMap { Double($0) } }
        guard times.count >= 2 else { return nil }
        return times[times.count - 1] + (times[times.count - 1] - times[times.count - 2])
    }
}

// MARK: - Shared

/// Replaces the text between `begin` and `end` (markers included) in a Markdown file with `section`, or appends it.
/// BenchClaims.write does the same for its two fixed marker pairs; this one takes the markers.
func writeBenchSection(_ section: String, begin: String, end: String, into path: String) throws {
    var text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "# Benchmarks\n"
    if let b = text.range(of: begin), let e = text.range(of: end), b.lowerBound < e.lowerBound {
        text.replaceSubrange(b.lowerBound..<e.upperBound, with: section)
    } else {
        text = text.trimmingCharacters(in: .newlines) + "\n\n" + section + "\n"
    }
    do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
        throw CommandError("Cannot write \(path) (\(DataFileReader.reason(error, path: path))); check the path and permissions.")
    }
}

/// "AMD EPYC …, 2 cores": the CPU from /proc/cpuinfo.
func machineDescription() -> String {
    var cpu = "unknown CPU"
    if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }) {
        cpu = line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? cpu
    }
    return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores"
}

/// The process's resident set in MiB (VmRSS from /proc/self/status), 0 where there is none.
func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return 0 }
    return kilobytes / 1024
}

/// Hands freed heap pages back to the system, so that the resident set counts what is live.
func trimHeap() {
    #if canImport(Glibc)
    // glibc's malloc_trim, found at run time: the Glibc module does not export malloc.h.
    typealias Trim = @convention(c) (Int) -> Int32
    if let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") {
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }
    #endif
}
