import ArgumentParser
import Foundation
import Learning
import Services

/// A small synthetic moderation corpus, generated from templates with a seed: the project's own demo data
/// and test fixture (no third-party text). Classes: clear, spam, offensive.
public enum DemoCorpus {
    static let clear = [
        "are we still on for {meal} {day}?", "thanks for the {thing}, see you {day}", "running late, be there in {n} minutes",
        "happy birthday {name}! have a great {day}", "can you send me the {thing} from the meeting", "the {thing} looks great, nice work",
        "just landed, will call you {day}", "did you watch the game last night", "mum says dinner is at {n}", "lol that {thing} was so funny",
        "ok see you at the station {day}", "who is bringing the {thing} to {meal}", "I'll pick up the kids {day}",
    ]
    static let spam = [
        "WINNER!! you have won a {prize}. call {phone} to claim now", "FREE {prize} for you! txt WIN to {short} now",
        "urgent: your account is suspended, verify at {url}", "claim your £{n}00 cash prize today, reply YES to {short}",
        "congratulations! you are selected for a fr€e {prize}, visit {url}", "earn $$$ from home, click {url} now!!!",
        "c l i c k {url} for your {prize}", "you have 1 new voicemail. call {phone} (£1.50/min)", "cheap m0ney loans, no checks, text {short}",
        "exclusive offer: {n}0% off {prize}, limited time, go to {url}",
    ]
    static let offensive = [
        "shut up you {insult}", "you are such a {insult}, nobody likes you", "what a {insult}, get lost", "{name} is a total {insult}",
        "go away {insult}, you're pathetic", "only a {insult} would post this", "stop talking, {insult}", "lmao look at this {insult}",
    ]
    static let fill: [String: [String]] = [
        "meal": ["lunch", "dinner", "breakfast", "coffee"], "day": ["tomorrow", "tonight", "on friday", "this weekend", "later"],
        "thing": ["photos", "slides", "notes", "recipe", "video", "card"], "name": ["sam", "alex", "jo", "kim", "lee", "pat"],
        "n": ["5", "10", "15", "20", "7"], "prize": ["iphone", "holiday", "gift card", "car", "tablet"],
        "phone": ["09061701461", "08712300020", "09050001808"], "short": ["80082", "87121", "85233"],
        "url": ["www.win-now.co.uk", "http://bit.ly/x7Kq", "prizes4u.com/claim", "secure-verify.net/login"],
        "insult": ["idiot", "loser", "moron", "clown", "joke", "fool"],
    ]

    /// `perClass` rows of each class, deterministic for a seed.
    public static func rows(perClass: Int, seed: UInt64) -> [(text: String, label: String)] {
        var rng = SplitMix64(seed: seed)
        func pick(_ list: [String]) -> String { list[Int(rng.next() % UInt64(list.count))] }
        func render(_ template: String) -> String {
            var out = ""
            var rest = Substring(template)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                out += rest[..<open]
                out += pick(fill[String(rest[rest.index(after: open)..<close])] ?? ["?"])
                rest = rest[rest.index(after: close)...]
            }
            return out + rest
        }
        var rows: [(String, String)] = []
        for _ in 0..<perClass {
            rows.append((render(pick(clear)), "clear"))
            rows.append((render(pick(spam)), "spam"))
            rows.append((render(pick(offensive)), "offensive"))
        }
        return rows
    }

    /// RFC 4180 CSV with header id,text,label.
    public static func csv(_ rows: [(text: String, label: String)], idPrefix: String) -> String {
        var out = "id,text,label\n"
        for (i, row) in rows.enumerated() {
            let needsQuotes = row.text.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
            let text = needsQuotes ? "\"" + row.text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : row.text
            out += "\(idPrefix)-\(i + 1),\(text),\(row.label)\n"
        }
        return out
    }
}

struct Datasets: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make data files.",
        subcommands: [Demo.self])

    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the synthetic demo corpus (train.csv and test.csv) to a folder.",
            discussion: "Example:\n  winnow datasets demo --out datasets/demo")

        @Option(help: "Folder to write train.csv and test.csv into.")
        var out: String = "datasets/demo"

        @Option(help: "Rows per class in train.csv (test.csv gets a quarter as many).")
        var perClass: Int = 200

        @Option(help: "Seed of the generator.")
        var seed: UInt64 = 1

        func validate() throws {
            guard (5...100_000).contains(perClass) else { throw ValidationError("Please give --per-class between 5 and 100000; got \(perClass).") }
        }

        func run() throws {
            // Said in words (outside testing: Foundation's "Error Domain=NSCocoaErrorDomain Code=516").
            if FileManager.default.fileExists(atPath: out), !DataFileReader.isDirectory(out) {
                throw CommandError("--out \(out) is a file; give a folder to write train.csv and test.csv into.", code: Winnow.usageError)
            }
            let train = DemoCorpus.csv(DemoCorpus.rows(perClass: perClass, seed: seed), idPrefix: "demo-train")
            let test = DemoCorpus.csv(DemoCorpus.rows(perClass: max(2, perClass / 4), seed: seed &+ 1_000), idPrefix: "demo-test")
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                try train.write(toFile: out + "/train.csv", atomically: true, encoding: .utf8)
                try test.write(toFile: out + "/test.csv", atomically: true, encoding: .utf8)
            } catch {
                throw CommandError("Cannot write into \(out) (\(DataFileReader.reason(error))); check that it is a folder this user may write.")
            }
            print("Wrote \(out)/train.csv (\(perClass * 3) rows) and \(out)/test.csv (\(max(2, perClass / 4) * 3) rows).")
        }
    }
}
