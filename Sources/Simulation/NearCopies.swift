import Learning

/// Near-copies of a post, as a wave of spam or abuse makes them: the obfuscations Winnow's tokenizer undoes, then word
/// edits. What the simulator's waves post, and what `winnow bench signatures` measures text signatures on.
///
/// A copy gets two different obfuscations drawn uniformly from eight, each on one word drawn among the words it
/// applies to (leetspeak `o→0`/`e→3` inside the word; `€` for an inner `e`; a zero-width space inside the word; the
/// word spelt out `c l i c k`; case: the whole post upper-cased or one word in alternating case; one letter stretched
/// to six; the word in full-width letters; one letter swapped for its Cyrillic look-alike), after `edits` word edits,
/// each a drop, an insertion or a replacement with equal odds (a drop becomes a replacement in posts of four words or
/// fewer; new words are drawn by frequency from `vocabulary`).
public struct NearCopies: Sendable {
    public enum Obfuscation: CaseIterable, Sendable { case leet, euro, zeroWidth, spacedOut, caseChange, stretched, fullWidth, cyrillic }

    /// Words to insert and to replace with, one entry per occurrence (drawn uniformly, so by frequency).
    public let vocabulary: [String]

    public init(vocabulary: [String]) { self.vocabulary = vocabulary.isEmpty ? ["word"] : vocabulary }

    /// Every all-letter word of two or more letters in the texts, lower-cased, one entry per occurrence.
    public static func vocabulary(of texts: [String]) -> [String] {
        var out: [String] = []
        for text in texts {
            for word in text.split(separator: " ") where word.count >= 2 && word.allSatisfy({ $0.isASCII && $0.isLetter }) {
                out.append(word.lowercased())
            }
        }
        return out.isEmpty ? ["word"] : out
    }

    static let cyrillic: [Character: Character] = ["a": "\u{430}", "e": "\u{435}", "o": "\u{43E}", "p": "\u{440}", "c": "\u{441}",
                                                   "x": "\u{445}", "y": "\u{443}", "i": "\u{456}"]

    public func copy(of text: String, edits: Int, using rng: inout SplitMix64) -> String { copyWithKinds(of: text, edits: edits, using: &rng).text }

    /// A near-copy and the two obfuscations it got.
    public func copyWithKinds(of text: String, edits: Int, using rng: inout SplitMix64) -> (text: String, kinds: [Obfuscation]) {
        var words = text.split(separator: " ").map(String.init)
        for _ in 0..<edits {
            var op = Int.random(in: 0..<3, using: &rng)
            if op == 0 && words.count <= 4 { op = 2 }
            let word = vocabulary[Int.random(in: 0..<vocabulary.count, using: &rng)]
            switch op {
            case 0: words.remove(at: Int.random(in: 0..<words.count, using: &rng))
            case 1: words.insert(word, at: Int.random(in: 0...words.count, using: &rng))
            default: words[Int.random(in: 0..<words.count, using: &rng)] = word
            }
        }
        var kinds = Obfuscation.allCases
        kinds.shuffle(using: &rng)
        var applied: [Obfuscation] = []
        for kind in kinds where applied.count < 2 {
            if apply(kind, to: &words, using: &rng) { applied.append(kind) }
        }
        return (words.joined(separator: " "), applied)
    }

    /// Applies one obfuscation to one eligible word (drawn uniformly); false when no word is eligible.
    private func apply(_ kind: Obfuscation, to words: inout [String], using rng: inout SplitMix64) -> Bool {
        func plain(_ w: String) -> Bool { w.count >= 3 && w.allSatisfy { $0.isASCII && $0.isLetter } }
        func inner(_ w: String, _ letters: Set<Character>) -> Bool {
            let c = Array(w)
            return c.count >= 3 && c[1..<(c.count - 1)].contains { letters.contains(Character($0.lowercased())) }
        }
        let eligible: (String) -> Bool
        switch kind {
        case .leet: eligible = { plain($0) && inner($0, ["o", "e"]) }
        case .euro: eligible = { plain($0) && inner($0, ["e"]) }
        case .cyrillic: eligible = { w in plain(w) && w.contains { Self.cyrillic[$0] != nil } }
        case .caseChange: eligible = { _ in true }
        default: eligible = plain
        }
        let candidates = words.indices.filter { eligible(words[$0]) }
        guard let at = candidates.randomElement(using: &rng) else { return false }
        var c = Array(words[at])
        switch kind {
        case .leet:
            // Every other inner o or e, so that each digit stands between letters.
            var last = -2
            for k in 1..<(c.count - 1) where k > last + 1 {
                if c[k] == "o" || c[k] == "O" { c[k] = "0"; last = k } else if c[k] == "e" || c[k] == "E" { c[k] = "3"; last = k }
            }
        case .euro:
            let k = (1..<(c.count - 1)).first { c[$0] == "e" || c[$0] == "E" }!
            c[k] = "€"
        case .zeroWidth:
            c.insert("\u{200B}", at: Int.random(in: 1..<c.count, using: &rng))
        case .spacedOut:
            words[at] = c.map(String.init).joined(separator: " ")
            return true
        case .caseChange:
            if Bool.random(using: &rng) {
                words = words.map { $0.uppercased() }
                return true
            }
            c = c.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.lowercased()) : Character($0.element.uppercased()) }
        case .stretched:
            let k = Int.random(in: 0..<c.count, using: &rng)
            c.insert(contentsOf: Array(repeating: c[k], count: 5), at: k)
        case .fullWidth:
            c = c.map { ch in
                let v = ch.unicodeScalars.first!.value
                return Character(Unicode.Scalar(v + 0xFEE0)!)  // ASCII letters to their full-width forms (U+FF21…)
            }
        case .cyrillic:
            let k = c.indices.first { Self.cyrillic[c[$0]] != nil }!
            c[k] = Self.cyrillic[c[k]]!
        }
        words[at] = String(c)
        return true
    }
}
