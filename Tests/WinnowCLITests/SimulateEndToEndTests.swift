import Foundation
import Testing

@testable import WinnowCLI

/// `winnow simulate` as a user runs it: two processes with the same seed print the same numbers.
struct SimulateEndToEndTests {
    @Test(.enabled(if: EndToEndTests.executable != nil))
    func twoRunsWithOneSeedPrintTheSameReportAndWriteTheHTML() throws {
        let dir = try EndToEndTests.folder()
        let generated = try EndToEndTests.run(["datasets", "demo", "--out", dir, "--per-class", "100"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let arguments = ["simulate", "--data", dir + "/train.csv", "--rounds", "2", "--items-per-round", "100", "--review-capacity", "40",
                         "--algorithm", "nb", "--bucket-bits", "14", "--initial-share", "0.2", "--seed", "3", "--json"]
        let first = try EndToEndTests.run(arguments + ["--report", dir + "/sim.html"])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try EndToEndTests.run(arguments)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(first.stdout == second.stdout)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        let rounds = try #require(json["rounds"] as? [[String: Any]])
        #expect(rounds.count == 2)
        #expect(rounds.allSatisfy { $0["items"] as? Int == 100 })
        #expect(json["posts"] as? Int == 300)
        let html = try String(contentsOfFile: dir + "/sim.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("Precision of automatic removals") && html.contains("Review load"))

        let table = try EndToEndTests.run(Array(arguments.dropLast()) + ["--quiet"])
        #expect(table.stdout.contains("| round | posts | model |"))
        #expect(table.stdout.contains("Round 1 → 2: automatic error"))

        let thin = try EndToEndTests.run(["simulate", "--data", dir + "/train.csv", "--initial-share", "0.02"])
        #expect(thin.status != 0)
        #expect(thin.stderr.contains("Give a larger --initial-share"))
        let tooMany = try EndToEndTests.run(["simulate", "--data", dir + "/train.csv", "--items-per-round", "1000"])
        #expect(tooMany.status == 65, "\(tooMany.status): more posts asked for than the data holds is a data error (it exited 1)")
        #expect(tooMany.stderr.contains("--items-per-round"))
        let badRate = try EndToEndTests.run(["simulate", "--data", dir + "/train.csv", "--reviewer-error", "2"])
        #expect(badRate.status != 0)
        #expect(badRate.stderr.contains("--reviewer-error"))
    }
}
