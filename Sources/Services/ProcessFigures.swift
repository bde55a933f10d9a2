import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// This process's own figures, read from Linux's /proc/self as Prometheus's process collector reads them: CPU time,
/// memory, file descriptors and the start time. Nil fields where /proc is not there (another system).
public struct ProcessFigures: Equatable, Sendable {
    public var cpuSeconds: Double?
    public var residentBytes: Double?
    public var virtualBytes: Double?
    public var startTime: Double?
    public var openFileDescriptors: Double?
    public var maxFileDescriptors: Double?

    /// Now, from /proc/self/stat, /proc/stat (the boot time) and /proc/self/fd.
    public static func read() -> ProcessFigures {
        var figures = ProcessFigures()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let fields = Self.fields(ofStat: stat), ticks > 0 {
            // After the command's ")": state is field 3, utime 14, stime 15, starttime 22, vsize 23, rss 24.
            func field(_ n: Int) -> Double? { fields.count > n - 3 ? Double(fields[n - 3]) : nil }
            if let user = field(14), let system = field(15) { figures.cpuSeconds = (user + system) / ticks }
            figures.virtualBytes = field(23)
            if let rss = field(24), page > 0 { figures.residentBytes = rss * page }
            if let start = field(22), let boot = Self.bootTime() { figures.startTime = boot + start / ticks }
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            figures.openFileDescriptors = Double(descriptors.count)
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            figures.maxFileDescriptors = Double(limit.rlim_cur)
        }
        return figures
    }

    /// The fields of /proc/self/stat from the state on (the command's name in parentheses may hold spaces and ")").
    static func fields(ofStat stat: String) -> [Substring]? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    }

    /// The machine's boot time, seconds since 1970 (`btime` of /proc/stat).
    static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
