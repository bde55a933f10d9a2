import Foundation

/// The kind of a token, which decides the features it produces.
public enum TokenKind: UInt8, Sendable {
    /// An ordinary word: word n-grams and character n-grams.
    case word = 0
    /// A class token such as `<url>`, `<num5>`, `<emoji>`, or a punctuation run like `!!!`: word n-grams only.
    case tag = 1
}

/// Text normalisation and tokenisation, robust to the obfuscations of spam and abuse.
///
/// The steps, in order (the exact behaviour is versioned by `Featurizer.currentVersion`):
/// 1. HTML entities (`&amp;`, `&lt;`, `&#128514;`, `&#x1F602;`) are decoded.
/// 2. Texts that are not pure ASCII get Unicode NFKC (so `ｆｒｅｅ` and `𝐟𝐫𝐞𝐞` become `free`), full case folding,
///    zero-width and other format characters removed (`fr\u{200B}ee` → `free`), Cyrillic and Greek lookalike
///    letters folded to Latin inside words that also hold Latin letters (`frее` with Cyrillic `е` → `free`),
///    `€` between letters read as `e`, currency symbols mapped to `<money>`, and each emoji to `<emoji>` plus
///    the emoji itself. ASCII texts skip this step (ASCII is NFKC-invariant) and are only lower-cased.
/// 3. The text is cut at white space into chunks. A chunk that is a URL (`http…`, `www.…`, or a bare
///    `name.tld`) gives `<url>`, `<url:domain>` and the domain's labels as words; an e-mail address gives `<email>`
///    before its words; `@name` becomes `<mention>`.
/// 4. Other chunks split into runs of letters and digits (apostrophes dropped). Digits, `@` and `$` between
///    letters are read as letters (`m0ney` → `money`, `c@sh` → `cash`, and `fr33` → `free` at a word's end); a
///    run of digits becomes `<numN>` with N its digit count (capped at 8); `$` or a currency symbol
///    before a number becomes `<money>`; runs of `!` or `?` become tokens.
/// 5. Any character repeated more than `maxRepeat` times is cut to `maxRepeat` (`freeeee` → `freee`).
/// 6. Three or more single letters in a row are joined (`c l i c k`, `c.l.i.c.k` → `click`); a lone single
///    letter is dropped as a word (its character n-grams stay).
///
/// `Tokenizer` keeps its buffers between calls: tokenising allocates nothing once they have grown.
public struct Tokenizer: Sendable {
    public var maxRepeat: Int

    /// The normalised tokens, each followed by one space and the first preceded by one: `" free money "`.
    /// Character n-grams of a word are read from here with their boundary spaces.
    public internal(set) var buffer: [UInt8] = []
    /// Byte offsets of each token in `buffer` (`buffer[start - 1]` and `buffer[end]` are spaces).
    public internal(set) var starts: [Int32] = []
    public internal(set) var ends: [Int32] = []
    public internal(set) var kinds: [TokenKind] = []

    /// The normalised white-space chunks, each followed by one space and the first preceded by one, and
    /// their offsets: what character n-grams are read from.
    public internal(set) var chunkBuffer: [UInt8] = []
    public internal(set) var chunkStarts: [Int32] = []
    public internal(set) var chunkEnds: [Int32] = []

    /// Copies plain runs of bytes in one go instead of byte by byte (the same output; tests compare both ways).
    var bulkCopies = true

    private var source: [UInt8] = []
    private var pending: [UInt8] = []  // single letters waiting to be joined ("c l i c k")
    private var scratch: [UInt8] = []

    public init(maxRepeat: Int = 3) {
        self.maxRepeat = max(1, maxRepeat)
    }

    public var count: Int { starts.count }

    /// The token texts (for tests and explanations; the hot path reads `buffer` directly).
    public var tokens: [String] {
        (0..<count).map { token(at: $0) }
    }

    public func token(at index: Int) -> String {
        String(decoding: buffer[Int(starts[index])..<Int(ends[index])], as: UTF8.self)
    }

    /// Normalises and tokenises `text`, replacing the previous contents of the buffers.
    public mutating func tokenize(_ text: String) {
        source.removeAll(keepingCapacity: true)
        var needsUnicode = false
        var hasAmp = false
        var copy = text
        copy.withUTF8 { utf8 in
            for b in utf8 {
                if b >= 0x80 { needsUnicode = true } else if b == 0x26 { hasAmp = true }
            }
            if hasAmp {
                Tokenizer.decodeEntities(utf8, into: &source)
                if !needsUnicode { needsUnicode = source.contains { $0 >= 0x80 } }
            } else {
                source.append(contentsOf: utf8)
            }
        }
        if needsUnicode {
            let decoded = String(decoding: source, as: UTF8.self)
            source.removeAll(keepingCapacity: true)
            Tokenizer.normalizeUnicode(decoded, into: &source)
        } else {
            source.withUnsafeMutableBufferPointer { bytes in
                for i in bytes.indices {
                    let b = bytes[i]
                    if b >= 0x41 && b <= 0x5A { bytes[i] = b | 0x20 } else if b < 0x20 || b == 0x7F { bytes[i] = 0x20 }
                }
            }
        }
        split()
    }

    // MARK: - Step 1: HTML entities

    static func decodeEntities(_ s: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var i = 0
        let n = s.count
        while i < n {
            let b = s[i]
            guard b == 0x26 else { out.append(b); i += 1; continue }
            // Find ';' within 10 bytes.
            var j = i + 1
            while j < n && j - i <= 10 && s[j] != 0x3B && s[j] != 0x26 && s[j] != 0x20 { j += 1 }
            if j < n && s[j] == 0x3B {
                let name = String(decoding: UnsafeBufferPointer(rebasing: s[(i + 1)..<j]), as: UTF8.self)
                var scalar: Unicode.Scalar?
                switch name {
                case "amp": scalar = "&"
                case "lt": scalar = "<"
                case "gt": scalar = ">"
                case "quot": scalar = "\""
                case "apos": scalar = "'"
                case "nbsp": scalar = " "
                default:
                    if name.hasPrefix("#x") || name.hasPrefix("#X") {
                        if let v = UInt32(name.dropFirst(2), radix: 16) { scalar = Unicode.Scalar(v) }
                    } else if name.hasPrefix("#") {
                        if let v = UInt32(name.dropFirst()) { scalar = Unicode.Scalar(v) }
                    }
                }
                if let scalar, scalar.value != 0 {
                    // Pad decoded emoji with spaces: tweets write them glued to words.
                    out.append(contentsOf: String(scalar).utf8)
                    i = j + 1
                    continue
                }
            }
            out.append(b)
            i += 1
        }
    }

    // MARK: - Step 2: Unicode

    /// Marker bytes the Unicode step leaves for the splitter; input control characters never survive it.
    static let emojiMarker: UInt8 = 0x01
    static let moneyMarker: UInt8 = 0x02

    static func normalizeUnicode(_ text: String, into out: inout [UInt8]) {
        let folded = text.precomposedStringWithCompatibilityMapping.lowercased()
        let scalars = Array(folded.unicodeScalars)
        var wordStart = out.count  // start of the current letter run in `out`, for lookalike folding
        var wordHasLatin = false
        var wordHasLookalike = false

        func endWord(_ out: inout [UInt8]) {
            if wordHasLatin && wordHasLookalike { foldLookalikes(&out, from: wordStart) }
            wordHasLatin = false
            wordHasLookalike = false
            wordStart = out.count
        }
        func isLetter(_ s: Unicode.Scalar?) -> Bool { s?.properties.isAlphabetic ?? false }

        for (index, scalar) in scalars.enumerated() {
            let v = scalar.value
            if v < 0x80 {
                if v < 0x20 || v == 0x7F {
                    endWord(&out); out.append(0x20); wordStart = out.count
                    continue
                }
                let b = UInt8(v)
                let isAlnum = (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                if b >= 0x61 && b <= 0x7A { wordHasLatin = true }
                if !isAlnum && b != 0x27 { endWord(&out) }
                out.append(b)
                if !isAlnum && b != 0x27 { wordStart = out.count }
                continue
            }
            let props = scalar.properties
            // Zero-width and other invisible format characters, variation selectors, emoji modifiers.
            if props.generalCategory == .format || (0xFE00...0xFE0F).contains(v) || props.isEmojiModifier
                || v == 0x034F || v == 0x180E || (0xE0000...0xE007F).contains(v)
            {
                continue
            }
            if props.isEmojiPresentation || (props.isEmoji && v > 0x2000 && !props.isAlphabetic) {
                endWord(&out)
                out.append(0x20); out.append(emojiMarker)
                out.append(contentsOf: String(scalar).utf8)
                out.append(0x20)
                wordStart = out.count
                continue
            }
            if v == 0x20AC {  // €: a letter between letters ("fr€e"), money elsewhere
                let prev = index > 0 ? scalars[index - 1] : nil
                let next = index + 1 < scalars.count ? scalars[index + 1] : nil
                if isLetter(prev) && isLetter(next) {
                    out.append(0x65); wordHasLatin = true
                    continue
                }
            }
            switch props.generalCategory {
            case .currencySymbol:
                endWord(&out)
                out.append(0x20); out.append(moneyMarker); out.append(0x20)
                wordStart = out.count
            case .spaceSeparator, .lineSeparator, .paragraphSeparator, .control:
                endWord(&out); out.append(0x20); wordStart = out.count
            case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                .initialPunctuation, .finalPunctuation, .otherPunctuation, .mathSymbol, .modifierSymbol,
                .otherSymbol:
                endWord(&out); out.append(0x20); wordStart = out.count
            default:
                if lookalikes[v] != nil { wordHasLookalike = true }
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        endWord(&out)
    }

    /// Cyrillic and Greek letters that look like Latin ones, folded only inside mixed-script words.
    static let lookalikes: [UInt32: UInt8] = [
        0x0430: 0x61, 0x0435: 0x65, 0x043E: 0x6F, 0x0440: 0x70, 0x0441: 0x63, 0x0443: 0x79, 0x0445: 0x78,
        0x0456: 0x69, 0x0455: 0x73, 0x0458: 0x6A, 0x0501: 0x64, 0x04CF: 0x6C, 0x043A: 0x6B, 0x043C: 0x6D,
        0x043D: 0x68, 0x0442: 0x74, 0x0432: 0x62, 0x0461: 0x77, 0x051B: 0x71,
        0x03B1: 0x61, 0x03BF: 0x6F, 0x03C1: 0x70, 0x03BD: 0x76, 0x03C4: 0x74, 0x03B9: 0x69, 0x03BA: 0x6B,
        0x03B5: 0x65, 0x03C5: 0x75, 0x03C7: 0x78, 0x03B7: 0x6E,
    ]

    static func foldLookalikes(_ out: inout [UInt8], from start: Int) {
        guard start < out.count else { return }
        let word = String(decoding: out[start...], as: UTF8.self)
        var folded: [UInt8] = []
        for s in word.unicodeScalars {
            if let latin = lookalikes[s.value] { folded.append(latin) } else { folded.append(contentsOf: String(s).utf8) }
        }
        out.removeSubrange(start...)
        out.append(contentsOf: folded)
    }

    // MARK: - Steps 3–6: splitting

    @inline(__always) static func isLower(_ b: UInt8) -> Bool { b >= 0x61 && b <= 0x7A }
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    @inline(__always) static func isWordByte(_ b: UInt8) -> Bool { isLower(b) || isDigit(b) || b >= 0x80 }
    @inline(__always) static func isLetterByte(_ b: UInt8) -> Bool { isLower(b) || b >= 0x80 }
    @inline(__always) static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    static func leetLetter(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30: return 0x6F  // 0 → o
        case 0x31: return 0x69  // 1 → i
        case 0x33: return 0x65  // 3 → e
        case 0x34: return 0x61  // 4 → a
        case 0x35: return 0x73  // 5 → s
        case 0x37: return 0x74  // 7 → t
        case 0x40: return 0x61  // @ → a
        case 0x24: return 0x73  // $ → s
        default: return nil
        }
    }

    mutating func split() {
        buffer.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        kinds.removeAll(keepingCapacity: true)
        pending.removeAll(keepingCapacity: true)
        chunkBuffer.removeAll(keepingCapacity: true)
        chunkStarts.removeAll(keepingCapacity: true)
        chunkEnds.removeAll(keepingCapacity: true)
        buffer.append(0x20)
        chunkBuffer.append(0x20)
        let src = source
        src.withUnsafeBufferPointer { s in
            let n = s.count
            var i = 0
            while i < n {
                while i < n && Tokenizer.isSpace(s[i]) { i += 1 }
                if i >= n { break }
                var j = i
                while j < n && !Tokenizer.isSpace(s[j]) { j += 1 }
                recordChunk(s, i, j)
                chunk(s, i, j)
                i = j
            }
        }
        flushPending()
    }

    /// Keeps a white-space chunk as written (after normalisation), for character n-grams: they see URLs,
    /// numbers and punctuation that the word tokens replace by class tokens.
    private mutating func recordChunk(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int) {
        let start = chunkBuffer.count
        if bulkCopies && Tokenizer.isPlain(s, a, b, maxRepeat: maxRepeat, markers: true) {
            chunkBuffer.append(contentsOf: UnsafeBufferPointer(rebasing: s[a..<b]))
        } else {
            for k in a..<b {
                var c = s[k]
                if c == Tokenizer.emojiMarker { continue }
                if c == Tokenizer.moneyMarker { c = 0x24 }
                if Tokenizer.repeatsTooOften(chunkBuffer, from: start, c, maxRepeat) { continue }
                chunkBuffer.append(c)
            }
        }
        if chunkBuffer.count == start { return }
        chunkStarts.append(Int32(start))
        chunkEnds.append(Int32(chunkBuffer.count))
        chunkBuffer.append(0x20)
    }

    private static func hasPrefix(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int, _ p: StaticString) -> Bool {
        let count = p.utf8CodeUnitCount
        guard b - a >= count else { return false }
        let pp = p.utf8Start
        for k in 0..<count where s[a + k] != pp[k] { return false }
        return true
    }

    static let tlds: Set<String> = [
        "com", "net", "org", "co", "uk", "info", "biz", "io", "ly", "me", "tv", "us", "de", "fr", "ru", "cn", "in",
        "xyz", "online", "site", "club", "gl", "tk", "ws", "mobi", "ca", "au", "eu", "nl", "es", "it", "pl",
        "br", "jp", "ie", "be", "ch", "top", "app", "link", "shop", "live",
    ]

    private mutating func chunk(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int) {
        if s[a] == Tokenizer.emojiMarker {
            emitTag("<emoji>")
            if b > a + 1 { emit(s, a + 1, b, kind: .tag, capRepeats: false) }
            return
        }
        if s[a] == Tokenizer.moneyMarker { emitTag("<money>"); return }
        // URLs with a scheme or www.
        var domainStart = -1
        if Tokenizer.hasPrefix(s, a, b, "http://") { domainStart = a + 7 }
        else if Tokenizer.hasPrefix(s, a, b, "https://") { domainStart = a + 8 }
        else if Tokenizer.hasPrefix(s, a, b, "www.") { domainStart = a }
        if domainStart >= 0 { emitURL(s, domainStart, b); return }
        // E-mail, mention.
        if let at = (a..<b).first(where: { s[$0] == 0x40 }) {
            if at > a && isEmail(s, a, at, b) {
                emitTag("<email>")
                words(s, a, at)
                words(s, at + 1, b)
                return
            }
            if at == a && b > a + 1 && (Tokenizer.isWordByte(s[a + 1]) || s[a + 1] == 0x5F) {
                emitTag("<mention>")
                var k = a + 1
                while k < b && (Tokenizer.isWordByte(s[k]) || s[k] == 0x5F) { k += 1 }
                if k < b { words(s, k, b) }
                return
            }
        }
        // Bare domains: name.tld[/path]
        if let dot = (a..<b).first(where: { s[$0] == 0x2E }), dot > a, Tokenizer.isWordByte(s[a]) {
            var k = dot + 1
            while k < b && Tokenizer.isLower(s[k]) { k += 1 }
            var end = k
            // Accept further labels (co.uk).
            while end < b && s[end] == 0x2E {
                var m = end + 1
                while m < b && Tokenizer.isLower(s[m]) { m += 1 }
                if m == end + 1 { break }
                k = m; end = m
            }
            let lastDot = (a..<k).last { s[$0] == 0x2E } ?? dot
            let tld = String(decoding: UnsafeBufferPointer(rebasing: s[(lastDot + 1)..<k]), as: UTF8.self)
            let boundary = k == b || s[k] == 0x2F || s[k] == 0x3F || s[k] == 0x3A
            let nameOK = (a..<dot).allSatisfy { Tokenizer.isLower(s[$0]) || Tokenizer.isDigit(s[$0]) || s[$0] == 0x2D }
            if boundary && nameOK && tld.count >= 2 && Tokenizer.tlds.contains(tld) {
                emitURL(s, a, b)
                return
            }
        }
        words(s, a, b)
    }

    /// `local@domain.tld`: a local part of word characters and `._-+`, a domain with a dot followed by a letter.
    private func isEmail(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ at: Int, _ b: Int) -> Bool {
        func localByte(_ c: UInt8) -> Bool { Tokenizer.isWordByte(c) || c == 0x2E || c == 0x5F || c == 0x2D || c == 0x2B }
        guard (a..<at).allSatisfy({ localByte(s[$0]) }) else { return false }
        var end = b
        while end > at + 1 && !Tokenizer.isWordByte(s[end - 1]) { end -= 1 }
        guard at + 1 < end, (at + 1..<end).allSatisfy({ Tokenizer.isWordByte(s[$0]) || s[$0] == 0x2E || s[$0] == 0x2D }) else { return false }
        guard let dot = (at + 1..<end).last(where: { s[$0] == 0x2E }), dot > at + 1, dot + 1 < end else { return false }
        return Tokenizer.isLower(s[dot + 1])
    }

    private mutating func emitURL(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int) {
        var start = a
        if Tokenizer.hasPrefix(s, start, b, "www.") { start += 4 }
        var end = start
        while end < b, s[end] != 0x2F, s[end] != 0x3F, s[end] != 0x23, s[end] != 0x3A { end += 1 }
        while end > start, !Tokenizer.isWordByte(s[end - 1]) { end -= 1 }
        emitTag("<url>")
        if end > start {
            var text: [UInt8] = Array("<url:".utf8)
            text.append(contentsOf: UnsafeBufferPointer(rebasing: s[start..<end]))
            text.append(0x3E)
            text.withUnsafeBufferPointer { emit($0, 0, $0.count, kind: .tag, capRepeats: false) }
            words(s, start, end)  // the domain's labels as words ("co", "uk")
        }
    }

    /// Splits a chunk into words, numbers and punctuation runs.
    private mutating func words(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int) {
        var i = a
        while i < b {
            let c = s[i]
            if Tokenizer.isWordByte(c) || (Tokenizer.leetLetter(c) != nil && i + 1 < b && Tokenizer.isWordByte(s[i + 1]) && i > a && Tokenizer.isLetterByte(s[i - 1])) {
                // A run of word bytes, allowing apostrophes and leet symbols inside.
                var j = i
                while j < b {
                    let d = s[j]
                    if Tokenizer.isWordByte(d) { j += 1; continue }
                    if d == 0x27 && j + 1 < b && Tokenizer.isWordByte(s[j + 1]) && j > i { j += 1; continue }
                    if (d == 0x40 || d == 0x24) && j > i && Tokenizer.isLetterByte(s[j - 1]) && j + 1 < b && Tokenizer.isLetterByte(s[j + 1]) { j += 1; continue }
                    break
                }
                if j == i { i += 1; continue }
                wordRun(s, i, j)
                i = j
            } else if c == 0x24 && i + 1 < b && Tokenizer.isDigit(s[i + 1]) {
                emitTag("<money>")
                i += 1
            } else if c == 0x21 || c == 0x3F {
                var j = i
                while j < b && s[j] == c { j += 1 }
                emit(s, i, j, kind: .tag, capRepeats: true)
                i = j
            } else {
                i += 1
            }
        }
    }

    /// One run of letters, digits, apostrophes and inner leet symbols.
    private mutating func wordRun(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int) {
        var letters = 0
        var digits = 0
        for k in a..<b {
            if Tokenizer.isLetterByte(s[k]) { letters += 1 } else if Tokenizer.isDigit(s[k]) { digits += 1 }
        }
        if letters == 0 {
            switch min(digits, 8) {
            case 0: break
            case 1: emitTag("<num1>")
            case 2: emitTag("<num2>")
            case 3: emitTag("<num3>")
            case 4: emitTag("<num4>")
            case 5: emitTag("<num5>")
            case 6: emitTag("<num6>")
            case 7: emitTag("<num7>")
            default: emitTag("<num8>")
            }
            // Long numbers (phone numbers, short codes) also stand as themselves: spam reuses them, and
            // their character n-grams catch shared prefixes.
            if digits >= 3 { emit(s, a, b, kind: .word, capRepeats: false) }
            return
        }
        if bulkCopies && letters == b - a {  // only letters: the word is the run as written
            emit(s, a, b, kind: .word, capRepeats: true)
            return
        }
        var word = scratch  // reuse the scratch buffer's storage: no allocation per word
        scratch = []
        defer { word.removeAll(keepingCapacity: true); scratch = word }
        var k = a
        while k < b {
            let c = s[k]
            if c == 0x27 { k += 1; continue }
            if Tokenizer.leetLetter(c) != nil, !Tokenizer.isLetterByte(c) {
                // A run of leet characters: fold when letters stand on both sides, or when it ends a word of
                // two or more letters and is at most two characters long ("fr33").
                var m = k
                while m < b, Tokenizer.leetLetter(s[m]) != nil { m += 1 }
                let before = word.last.map(Tokenizer.isLetterByte) ?? false
                let after = m < b && Tokenizer.isLetterByte(s[m])
                let trailing = m == b && m - k <= 2 && word.count >= 2 && word.allSatisfy(Tokenizer.isLetterByte)
                    && !(a..<b).contains { Tokenizer.isDigit(s[$0]) && Tokenizer.leetLetter(s[$0]) == nil }
                if before && (after || trailing) {
                    for q in k..<m { word.append(Tokenizer.leetLetter(s[q])!) }
                } else {
                    for q in k..<m where s[q] != 0x40 && s[q] != 0x24 { word.append(s[q]) }
                }
                k = m
                continue
            }
            word.append(c)
            k += 1
        }
        word.withUnsafeBufferPointer { emit($0, 0, $0.count, kind: .word, capRepeats: true) }
    }

    // MARK: - Emission

    private mutating func emitTag(_ text: StaticString) {
        flushPending()
        let p = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        append(p, 0, p.count, kind: .tag, capRepeats: false)
    }

    private mutating func emit(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int, kind: TokenKind, capRepeats: Bool) {
        if kind == .word && b - a == 1 && Tokenizer.isLower(s[a]) {
            // A single letter: hold it back, it may be part of a spaced-out word ("c l i c k").
            pending.append(s[a])
            return
        }
        flushPending()
        append(s, a, b, kind: kind, capRepeats: capRepeats)
    }

    /// True when `s[a..<b]` repeats no byte more than `maxRepeat` times in a row and (with `markers`) holds no
    /// emoji or money marker: copying it as it is gives what the byte-by-byte rules give.
    @inline(__always) static func isPlain(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int, maxRepeat: Int, markers: Bool) -> Bool {
        var run = 0
        var previous: UInt8 = 0
        for k in a..<b {
            let c = s[k]
            if markers && (c == emojiMarker || c == moneyMarker) { return false }
            run = c == previous && k > a ? run + 1 : 1
            if run > maxRepeat { return false }
            previous = c
        }
        return true
    }

    /// True when `bytes` already ends, after `start`, with `maxRepeat` copies of `c`: one more would exceed the cap.
    @inline(__always) static func repeatsTooOften(_ bytes: [UInt8], from start: Int, _ c: UInt8, _ maxRepeat: Int) -> Bool {
        guard bytes.count - start >= maxRepeat else { return false }
        for q in 1...maxRepeat where bytes[bytes.count - q] != c { return false }
        return true
    }

    private mutating func append(_ s: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int, kind: TokenKind, capRepeats: Bool) {
        let start = buffer.count
        if bulkCopies && (!capRepeats || Tokenizer.isPlain(s, a, b, maxRepeat: maxRepeat, markers: false)) {
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: s[a..<b]))
        } else {
            for k in a..<b {
                let c = s[k]
                if capRepeats && Tokenizer.repeatsTooOften(buffer, from: start, c, maxRepeat) { continue }
                buffer.append(c)
            }
        }
        starts.append(Int32(start))
        ends.append(Int32(buffer.count))
        kinds.append(kind)
        buffer.append(0x20)
    }

    /// Joins three or more pending single letters into one word; one or two single letters are dropped
    /// (as most word tokenisers do: they carry little, and their character n-grams stay).
    private mutating func flushPending() {
        if pending.isEmpty { return }
        defer { pending.removeAll(keepingCapacity: true) }
        guard pending.count >= 3 else { return }
        let letters = pending
        letters.withUnsafeBufferPointer { append($0, 0, $0.count, kind: .word, capRepeats: true) }
    }
}
