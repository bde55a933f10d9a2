import Learning

/// Near-copies of a post, as a wave of spam or abuse makes them: the same text re-posted with the obfuscations
/// Winnow's tokenizer undoes, and sometimes a word changed. What the simulator's waves post, and what
/// `winnow bench signatures` measures the text signatures on.
///
/// Each copy takes two or three of these, chosen at random: digits for letters inside a word (`money` → `m0ney`,
/// `free` → `fr33`), `€` for an `e` between letters, `@` for an `a` inside a word, a zero-width space inside a word,
/// one word spelt out letter by letter (`c l i c k`), one letter of a word repeated (`freeeee`), the case of the whole
/// text changed, Cyrillic look-alike letters (`а`, `е`, `о`) for Latin ones inside a word, a run of `!!!` at the end.
/// With probability `rewording` it also drops, repeats or swaps in one word (a reworded copy).
public enum NearCopies {
    public static func copy(of text: String, rewording: Double = 0.5, using rng: inout SplitMix64) -> String {
        var words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard !words.isEmpty else { return text }
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        // A word long enough to alter (letters only), if any.
        func wordIndex() -> Int? {
            let candidates = words.indices.filter { words[$0].count >= 4 && words[$0].allSatisfy(\.isLetter) }
            return candidates.isEmpty ? nil : candidates[pick(candidates.count)]
        }
        func replaceInside(_ word: String, _ from: Character, _ to: String) -> String {
            let chars = Array(word)
            guard chars.count >= 3 else { return word }
            var out = String(chars[0])
            for c in chars[1..<(chars.count - 1)] { out += c == from ? to : String(c) }
            return out + String(chars[chars.count - 1])
        }
        var steps = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        for i in stride(from: steps.count - 1, to: 0, by: -1) { steps.swapAt(i, pick(i + 1)) }
        for step in steps.prefix(2 + pick(2)) {
            guard let w = wordIndex() else { break }
            switch step {
            case 0: words[w] = replaceInside(words[w], "o", "0")
            case 1: words[w] = replaceInside(words[w], "e", "€")
            case 2: words[w] = replaceInside(words[w], "a", "@")
            case 3:
                let chars = Array(words[w])
                words[w] = String(chars[0..<2]) + "\u{200B}" + String(chars[2...])
            case 4: words[w] = words[w].map(String.init).joined(separator: " ")
            case 5:
                let chars = Array(words[w])
                words[w] = String(chars) + String(repeating: String(chars[chars.count - 1]), count: 3)
            case 6: words = words.map { uniform() < 0.5 ? $0.uppercased() : $0.lowercased() }
            case 7:
                words[w] = String(words[w].map { c -> Character in
                    switch c { case "a": return "а"; case "e": return "е"; case "o": return "о"; default: return c }
                })
            case 8: words[w] = replaceInside(words[w], "e", "3")
            default: words[words.count - 1] += "!!!"
            }
        }
        if uniform() < rewording, words.count >= 5 {
            let w = pick(words.count)
            switch pick(3) {
            case 0: words.remove(at: w)
            case 1: words.insert(words[w], at: w)
            default: words[w] = ["really", "now", "today", "guys", "lol", "omg"][pick(6)]
            }
        }
        return words.joined(separator: " ")
    }
}
