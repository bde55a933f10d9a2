import Foundation

/// Terminal output and single-key input for `winnow review`: raw mode on a terminal, plain bytes from a pipe, colour
/// only where the terminal supports it.
final class Terminal {
    let input: Int32
    let isInteractive: Bool
    let colour: Bool
    let width = 80
    private var original: termios?
    private var output = ""

    init(input: Int32 = 0, colour: Bool? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.input = input
        self.isInteractive = isatty(input) == 1
        let term = environment["TERM"] ?? ""
        self.colour = colour ?? (isatty(1) == 1 && term != "dumb" && !term.isEmpty && environment["NO_COLOR"] == nil)
    }

    deinit { restore() }

    // MARK: Input

    /// Single keys without Enter: no canonical mode, no echo, and Ctrl-C as a key (so quitting releases tickets).
    func enterRawMode() {
        guard isInteractive, original == nil else { return }
        var settings = termios()
        guard tcgetattr(input, &settings) == 0 else { return }
        original = settings
        settings.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG)
        withUnsafeMutableBytes(of: &settings.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(input, TCSANOW, &settings)
    }

    func restore() {
        guard var settings = original else { return }
        tcsetattr(input, TCSANOW, &settings)
        original = nil
    }

    /// The next byte, nil at the end of the input.
    func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let n = read(input, &byte, 1)
            if n == 1 { return byte }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// The next key that means something: blanks and line ends are skipped; Ctrl-C and Ctrl-D read as `q`; an
    /// escape sequence (arrows, function keys) is read whole and returned as ESC, and any byte outside printable
    /// ASCII (part of a UTF-8 character) as `\u{FFFD}`, so that neither can pass for a digit.
    func readKey() -> Character? {
        while let byte = readByte() {
            switch byte {
            case 0x0A, 0x0D, 0x20, 0x09: continue
            case 0x03, 0x04: return "q"
            case 0x1B:
                if isInteractive { skipEscapeSequence() }
                return "\u{1B}"
            case 0x21...0x7E: return Character(Unicode.Scalar(byte))
            default: return "\u{FFFD}"
            }
        }
        return nil
    }

    /// The next key of any kind, blanks and Enter included (a pager turns its page on any of them); Ctrl-C and Ctrl-D
    /// read as `q`.
    func readAnyKey() -> Character? {
        guard let byte = readByte() else { return nil }
        switch byte {
        case 0x03, 0x04: return "q"
        case 0x1B:
            if isInteractive { skipEscapeSequence() }
            return "\u{1B}"
        case 0x20...0x7E, 0x0A, 0x0D, 0x09: return Character(Unicode.Scalar(byte))
        default: return "\u{FFFD}"
        }
    }

    /// Reads the rest of an escape sequence a terminal sends for a key: CSI (`ESC [` parameters, then a final byte
    /// 0x40-0x7E) or SS3 (`ESC O` and one byte). Only called on a terminal, where the sequence arrives at once.
    private func skipEscapeSequence() {
        var settings = termios()
        guard tcgetattr(input, &settings) == 0 else { return }
        // Wait at most 50 ms for the next byte: a lone ESC press is followed by nothing.
        var polling = settings
        withUnsafeMutableBytes(of: &polling.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 1
        }
        tcsetattr(input, TCSANOW, &polling)
        defer { tcsetattr(input, TCSANOW, &settings) }
        guard let introducer = readByte() else { return }
        if introducer == UInt8(ascii: "O") { _ = readByte(); return }
        guard introducer == UInt8(ascii: "[") else { return }
        while let byte = readByte(), !(0x40...0x7E).contains(byte) {}
    }

    /// A line typed with echo (the terminal's own line editing), nil at the end of the input.
    func readLine(prompt: String) -> String? {
        write(prompt)
        flush()
        let wasRaw = original != nil
        if wasRaw { restore() }
        defer { if wasRaw { enterRawMode() } }
        var bytes: [UInt8] = []
        while let byte = readByte() {
            // Scripted input ends the key's own line before the text: skip that line end.
            if !isInteractive && bytes.isEmpty && (byte == 0x0A || byte == 0x0D) { continue }
            if byte == 0x0A {
                let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if !isInteractive { line(Terminal.visible(text)) }  // a transcript shows what was read
                return text
            }
            bytes.append(byte)
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Output

    func write(_ text: String) { output += text }

    func line(_ text: String = "") { output += text + "\n" }

    func flush() {
        guard !output.isEmpty else { return }
        FileHandle.standardOutput.write(Data(output.utf8))
        output = ""
    }

    enum Style: String {
        case bold = "1", dim = "2", red = "31", green = "32", yellow = "33", blue = "34", magenta = "35", cyan = "36", inverse = "7"
    }

    func styled(_ text: String, _ styles: Style...) -> String {
        guard colour, !styles.isEmpty else { return text }
        return "\u{1B}[\(styles.map(\.rawValue).joined(separator: ";"))m\(text)\u{1B}[0m"
    }

    // MARK: Safe text

    /// `text` with everything that could move the cursor, change colours, reorder or hide characters made visible:
    /// C0 controls as ^X (line ends kept when `keepNewlines`), DEL as ^?, C1 controls, bidirectional overrides and
    /// zero-width characters as <U+XXXX>.
    static func visible(_ text: String, keepNewlines: Bool = false) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            let v = scalar.value
            switch v {
            case 0x0A where keepNewlines: out.unicodeScalars.append(scalar)
            case 0x00..<0x20: out += "^" + String(Unicode.Scalar(UInt8(v + 0x40)))
            case 0x7F: out += "^?"
            case 0x80..<0xA0, 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2069, 0x061C, 0xFEFF, 0xFFF9...0xFFFB:
                out += String(format: "<U+%04X>", v)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Lines of at most `width` characters, broken at spaces where possible.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var current = ""
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: false) {
                var word = Substring(word)
                while word.count > width {
                    if !current.isEmpty { lines.append(current); current = "" }
                    lines.append(String(word.prefix(width)))
                    word = word.dropFirst(width)
                }
                if current.isEmpty { current = String(word) } else if current.count + 1 + word.count <= width { current += " " + word } else {
                    lines.append(current)
                    current = String(word)
                }
            }
            lines.append(current)
        }
        return lines
    }

    /// `text` cut to `width` characters, with an ellipsis when cut.
    static func fit(_ text: String, _ width: Int) -> String {
        text.count <= width ? text : String(text.prefix(max(0, width - 1))) + "…"
    }
}
