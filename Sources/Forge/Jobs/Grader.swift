/// Decides each test case's verdict and the overall one.
public enum Grader {
    /// Whether `actual` passes for `expected` under `mode`.
    public static func matches(_ actual: [UInt8], _ expected: [UInt8], mode: CompareMode) -> Bool {
        switch mode {
        case .exact:
            return actual == expected
        case .trimTrailingWhitespace:
            return judgeTrimmed(actual) == judgeTrimmed(expected)
        case .tokens:
            return tokens(actual) == tokens(expected)
        }
    }

    /// Every line with its trailing whitespace (and NUL) removed, then the
    /// whole text's trailing whitespace: Judge0's rule. Leading whitespace counts.
    static func judgeTrimmed(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        var lines: [ArraySlice<UInt8>] = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            var line = line
            while let last = line.last, isWhitespace(last) || last == 0 { line.removeLast() }
            return line
        }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        var joined: [UInt8] = []
        for (index, line) in lines.enumerated() {
            if index > 0 { joined.append(UInt8(ascii: "\n")) }
            joined += line
        }
        var trimmed = joined[...]
        while let last = trimmed.last, isWhitespace(last) { trimmed.removeLast() }
        return trimmed
    }

    static func tokens(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        bytes.split(whereSeparator: isWhitespace)
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    /// The verdict of one case from its run.
    static func verdict(of run: StageResult, expected: [UInt8], mode: CompareMode) -> String {
        guard run.verdict == .ok else { return run.verdict.name }
        // A cut-off output is never a match, whatever its prefix.
        guard !run.stdoutTruncated, matches(Array(run.stdout.utf8), expected, mode: mode) else { return "wrong_answer" }
        return "accepted"
    }
}
