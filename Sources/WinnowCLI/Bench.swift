import ArgumentParser
import Foundation
import Services
import Learning

/// `winnow bench`: scoring speed (the default) and review-queue claim latency.
@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure scoring speed, or claim latency on a large review queue.",
        discussion: """
              winnow bench --model models/default.winnow --data test.csv --json
              winnow bench claims --tickets 1000000 --write BENCHMARKS.md
            """,
        subcommands: [BenchScoring.self, BenchClaims.self, BenchSignatures.self, BenchBanks.self, BenchMedia.self],
        defaultSubcommand: BenchScoring.self)
}

struct BenchScoring: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scoring",
        abstract: "Measure single-thread scoring speed of a model on the texts of a data file.",
        discussion: """
            Scores the texts in a loop for at least --seconds and reports texts per second (raw text to calibrated \
            probabilities, and with the top 3 reasons), per-text latency percentiles and peak memory. `make bench` \
            runs this beside training runs, end-to-end JSON Lines scoring and scikit-learn, and writes BENCHMARKS.md.

            Example:
              winnow bench --model models/default.winnow --data test.csv --json
            """)

    @Option(help: "The model file (.winnow).")
    var model: String

    @Option(help: "Texts to score (CSV or JSONL; labels are not needed).")
    var data: String

    @Option(help: "Minimum measuring time per figure, in seconds.")
    var seconds: Double = 2

    @Flag(help: "Print the figures as JSON.")
    var json = false

    struct Figures: Codable {
        var model: String
        var kind: String
        var texts: Int
        var textsPerSecond: Double
        var textsPerSecondWithReasons: Double
        /// Tokenising alone, and tokenising plus hashing and counting features (no model).
        var tokenizedPerSecond: Double
        var featurizedPerSecond: Double
        var latencyP50Microseconds: Double
        var latencyP99Microseconds: Double
        var peakResidentMegabytes: Double
    }

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("Please give --seconds between 0 and 600; got \(seconds).") }
    }

    func run() throws {
        let classifier = try ModelIO.load(model)
        var scorer: Scorer
        do { scorer = try Scorer(model: classifier) } catch { throw CommandError.data("\(model): \(error)") }
        let texts = try DataFileReader(labelOptional: true).read(data).map(\.text)
        var sink = 0.0
        // Warm up, then measure throughput.
        for text in texts.prefix(1000) { sink += scorer.probabilities(text).probabilities[0] }
        func throughput(_ body: (String) -> Double) -> Double {
            let clock = ContinuousClock()
            let start = clock.now
            var done = 0
            var elapsed = 0.0
            repeat {
                for text in texts { sink += body(text) }
                done += texts.count
                elapsed = durationSeconds(clock.now - start)
            } while elapsed < seconds
            return Double(done) / elapsed
        }
        var featurizer = Featurizer(config: classifier.header.featurizer)
        let featuresOnly = throughput { featurizer.featurize($0); return Double(featurizer.uniqueHashes.count) }
        var tokenizer = Tokenizer(maxRepeat: classifier.header.featurizer.maxRepeat)
        let tokensOnly = throughput { tokenizer.tokenize($0); return Double(tokenizer.count) }
        let plain = throughput { scorer.probabilities($0).probabilities[0] }
        let explained = throughput { scorer.score($0, reasons: 3).probabilities[0] }
        // Latency per text.
        let clock = ContinuousClock()
        var latencies: [Double] = []
        latencies.reserveCapacity(texts.count)
        for text in texts {
            let t0 = clock.now
            sink += scorer.score(text, reasons: 3).probabilities[0]
            latencies.append(durationSeconds(clock.now - t0) * 1e6)
        }
        latencies.sort()
        func percentile(_ q: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))] }
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        let figures = Figures(
            model: classifier.header.modelVersion, kind: classifier.kind.rawValue, texts: texts.count, textsPerSecond: plain,
            textsPerSecondWithReasons: explained, tokenizedPerSecond: tokensOnly, featurizedPerSecond: featuresOnly, latencyP50Microseconds: percentile(0.5), latencyP99Microseconds: percentile(0.99),
            peakResidentMegabytes: Double(usage.ru_maxrss) / 1024)
        if sink.isNaN { print("") }  // keep the work observable
        if json {
            print(try jsonString(figures))
        } else {
            print("""
                \(figures.model) (\(figures.kind)), \(texts.count) texts, one thread:
                  \(Int(plain)) texts/s raw text → probabilities
                  \(Int(explained)) texts/s with the top 3 reasons
                  \(Int(tokensOnly)) texts/s tokenised, \(Int(featuresOnly)) texts/s featurized (no model)
                  latency p50 \(format(figures.latencyP50Microseconds, 1)) µs, p99 \(format(figures.latencyP99Microseconds, 1)) µs
                  peak resident memory \(format(figures.peakResidentMegabytes, 1)) MiB
                """)
        }
    }
}

func durationSeconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
