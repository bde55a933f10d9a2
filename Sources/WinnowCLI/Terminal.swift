import Foundation
import Synchronization

/// Terminal output and single-key input for `winnow review`: raw mode on a terminal, plain bytes from a pipe, colour
/// only where the terminal supports it.
final class Terminal {
    let input: Int32
    let isInteractive: Bool
    let colour: Bool
    /// A size that does not follow the window (tests, and output that is not a terminal).
    private let fixedSize: (columns: Int, rows: Int)?
    private var original: termios?
    private var output = ""

    /// `size`: the columns and rows to lay out for, whatever the terminal says (nil: the terminal's own).
    init(input: Int32 = 0, colour: Bool? = nil, size: (columns: Int, rows: Int)? = nil,
         environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.input = input
        self.isInteractive = isatty(input) == 1
        let term = environment["TERM"] ?? ""
        self.colour = colour ?? (isatty(1) == 1 && term != "dumb" && !term.isEmpty && environment["NO_COLOR"] == nil)
        self.fixedSize = size
    }

    /// The columns to lay out for: the terminal's width, read at each use so that a resized window is followed
    /// (40 to 160: narrower cannot hold a card, wider text is hard to read), 80 when the output is not a terminal or
    /// does not say.
    var width: Int { size.columns }
    /// The rows: the terminal's height (16 to 200), 24 when it does not say.
    var height: Int { size.rows }

    private var size: (columns: Int, rows: Int) {
        if let fixedSize { return fixedSize }
        var window = winsize()
        guard isatty(1) == 1, ioctl(1, UInt(TIOCGWINSZ), &window) == 0, window.ws_col > 0, window.ws_row > 0 else { return (80, 24) }
        return (min(160, max(40, Int(window.ws_col))), min(200, max(16, Int(window.ws_row))))
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

    /// Throws away what was typed and not yet read, on a terminal only (scripted input is all meant to be read); true
    /// when there was something. A card drawn after a decision calls it: keys typed before it appeared (a label pressed
    /// twice, typed ahead while the last decision was sent) were meant for the card before and must not decide this one.
    @discardableResult
    func discardTypedAhead() -> Bool {
        guard isInteractive else { return false }
        var pending: Int32 = 0
        let had = ioctl(input, UInt(FIONREAD), &pending) == 0 && pending > 0
        tcflush(input, TCIFLUSH)
        return had
    }

    /// Whether input arrives (or ends) within `seconds`; false when the time passed first.
    func waitForInput(seconds: Double) -> Bool {
        var descriptor = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(max(0, min(seconds * 1000, 3_600_000)).rounded(.up))
        while true {
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            // An error reads as input: the read that follows reports it (as the end of the input).
            return ready != 0
        }
    }

    enum Wait { case input, timeout, resized }

    /// Waits up to `seconds` for input, as `waitForInput`, and returns early when the window changed size meanwhile
    /// (after `followResizes`), so the screen can be laid out again for it. SIGWINCH may reach any of the process's
    /// threads, so the wait is in short polls with a look at the flag between them.
    func waitForInputOrResize(seconds: Double) -> Wait {
        let end = Date().addingTimeInterval(max(0, seconds))
        repeat {
            if WindowResizes.resized.exchange(false, ordering: .relaxed) { return .resized }
            if waitForInput(seconds: min(0.2, max(0, end.timeIntervalSinceNow))) { return .input }
        } while Date() < end
        return WindowResizes.resized.exchange(false, ordering: .relaxed) ? .resized : .timeout
    }

    /// From now on a change of the window's size is noted (SIGWINCH) for `waitForInputOrResize`; only when the
    /// output is a terminal whose size is followed.
    func followResizes() {
        guard isInteractive, fixedSize == nil, isatty(1) == 1 else { return }
        WindowResizes.follow()
    }

    /// A screen is being laid out for the window's size now: a resize noted before it is taken care of (a card drawn
    /// after a reason was chosen during a resize is not drawn a second time).
    func layingOut() {
        WindowResizes.resized.store(false, ordering: .relaxed)
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

    /// A line typed with echo (the terminal's own line editing), nil at the end of the input or when Ctrl-C cancels
    /// it (in the terminal's line mode Ctrl-C is a signal: it ended the whole desk, its lease left held, outside
    /// testing; here it cancels the line and the desk goes on).
    func readLine(prompt: String) -> String? {
        let wasRaw = original != nil
        if wasRaw { restore() }
        defer { if wasRaw { enterRawMode() } }
        var cancelled = false
        let interrupts = isInteractive ? InterruptsEndReads() : nil
        defer { interrupts?.restore() }
        // Shown once the line mode and Ctrl-C's handling are in place: whatever is typed after it meets both.
        write(prompt)
        flush()
        var bytes: [UInt8] = []
        while let byte = interrupts == nil ? readByte() : readByteUnlessInterrupted(&cancelled) {
            // Scripted input ends the key's own line before the text: skip that line end.
            if !isInteractive && bytes.isEmpty && (byte == 0x0A || byte == 0x0D) { continue }
            if byte == 0x0A {
                let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if !isInteractive { line(Terminal.visible(text)) }  // a transcript shows what was read
                return text
            }
            bytes.append(byte)
        }
        if cancelled { line(); return nil }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    /// The next byte; nil at the end of the input, or once SIGINT came (`cancelled` set). The signal may reach any of
    /// the process's threads, so the read waits in short polls and looks at the flag between them.
    private func readByteUnlessInterrupted(_ cancelled: inout Bool) -> UInt8? {
        while InterruptsEndReads.interrupted == 0 {
            guard waitForInput(seconds: 0.1) else { continue }
            if InterruptsEndReads.interrupted != 0 { break }
            return readByte()
        }
        cancelled = true
        return nil
    }

    // MARK: Output

    func write(_ text: String) { output += text }

    /// A line of output. A message wider than the terminal is broken at spaces (its style kept on each part), so
    /// that the terminal does not break it mid-word; lines with styles inside (the card's) are laid out already.
    func line(_ text: String = "") {
        guard text.count > width else { output += text + "\n"; return }
        var inner = Substring(text), start = "", end = ""
        let reset = "\u{1B}[0m"
        if text.hasPrefix("\u{1B}["), let m = text.firstIndex(of: "m"), text.hasSuffix(reset) {
            start = String(text[...m])
            end = reset
            inner = text[text.index(after: m)..<text.index(text.endIndex, offsetBy: -reset.count)]
        }
        guard !inner.contains("\u{1B}"), !inner.contains("\n"), Self.columns(inner) > width else { output += text + "\n"; return }
        for part in Self.wrap(String(inner), width: width) { output += start + part + end + "\n" }
    }

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

    /// The columns `text` takes on a terminal: two for wide characters (CJK, Hangul, full-width forms, emoji shown
    /// as pictures), none for combining marks, one for the rest.
    static func columns<S: StringProtocol>(_ text: S) -> Int {
        text.reduce(0) { $0 + columns(of: $1) }
    }

    static func columns(of character: Character) -> Int {
        guard let first = character.unicodeScalars.first else { return 0 }
        if character.unicodeScalars.count > 1, character.unicodeScalars.contains(where: { $0.value == 0xFE0F }) { return 2 }
        let v = first.value
        if first.properties.generalCategory == .nonspacingMark || first.properties.generalCategory == .enclosingMark { return 0 }
        if first.properties.isEmojiPresentation { return 2 }
        switch v {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF, 0xAC00...0xD7A3,
             0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }

    /// The longest start of `text` that takes at most `width` columns.
    static func prefix(_ text: Substring, columns width: Int) -> Substring {
        var used = 0, end = text.startIndex
        for index in text.indices {
            let next = used + columns(of: text[index])
            if next > width { break }
            used = next
            end = text.index(after: index)
        }
        return text[..<end]
    }

    /// Lines of at most `width` columns, broken at spaces where possible.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var current = "", used = 0
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: false) {
                var word = Substring(word)
                while columns(word) > width {
                    if !current.isEmpty { lines.append(current); current = ""; used = 0 }
                    // At least one character a line, even one wider than the width.
                    var head = prefix(word, columns: width)
                    if head.isEmpty { head = word.prefix(1) }
                    lines.append(String(head))
                    word = word.dropFirst(head.count)
                }
                let size = columns(word)
                if current.isEmpty {
                    current = String(word)
                    used = size
                } else if used + 1 + size <= width {
                    current += " " + word
                    used += 1 + size
                } else {
                    lines.append(current)
                    current = String(word)
                    used = size
                }
            }
            lines.append(current)
        }
        return lines
    }

    /// `text` cut to `width` columns, with an ellipsis when cut.
    static func fit(_ text: String, _ width: Int) -> String {
        columns(text) <= width ? text : String(prefix(Substring(text), columns: max(0, width - 1))) + "…"
    }
}

/// SIGWINCH, the window's new size, noted for the desk to lay its card out again (`Terminal.waitForInputOrResize`).
enum WindowResizes {
    static let resized = Atomic<Bool>(false)

    static func follow() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in WindowResizes.resized.store(true, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGWINCH, &action, nil)
    }
}

/// While it lives, SIGINT sets `interrupted` instead of ending the process (`Terminal.readLine` looks at it between
/// short polls); `restore` puts the earlier handling back.
final class InterruptsEndReads {
    nonisolated(unsafe) static var interrupted: sig_atomic_t = 0
    private var previous = sigaction()

    init() {
        InterruptsEndReads.interrupted = 0
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in InterruptsEndReads.interrupted = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, &previous)
    }

    func restore() {
        sigaction(SIGINT, &previous, nil)
    }
}
