import Foundation
import Testing

/// `winnow banks …` against `winnow serve` as a real process: a bank made, filled with a text, a hash and a hash
/// list, exported, and matching the items a feed posts.
@Suite(.serialized) struct BanksEndToEndTests {
    static let bridge = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    static let other = "0f0f0f31e10b57b0f9c8f5ddfc709c0f4c91d12a699de1e2cc194c63b16364dd"

    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func banksAreManagedFromTheCommandLineAndCatchCopies() async throws {
        let s = try await ReviewEndToEndTests.setUp(items: 0)
        defer { s.server.kill9() }  // (it was left running after the test)
        func run(_ arguments: [String]) throws -> EndToEndTests.Result {
            let result = try s.cli(arguments, as: s.admin)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return result
        }
        #expect(try run(["banks", "list"]).stdout.hasPrefix("No banks yet."))
        #expect(try run(["banks", "create", "wave", "--label", "spam", "--action", "remove"]).stdout
                == "wave  spam → remove  v1, 0 entries, every feed\n")
        let added = try run(["banks", "add", "wave", "--text", "claim your free prize money at the link below today", "--note", "campaign 12"])
        #expect(added.stdout.hasPrefix("Entry 1 (text): "))
        _ = try run(["banks", "add", "wave", "--pdq", Self.bridge, "--quality", "90"])
        let dir = try EndToEndTests.folder()
        try "hash,quality\n\(Self.other),80\n\(Self.bridge),90\n".write(toFile: dir + "/list.csv", atomically: true, encoding: .utf8)
        #expect(try run(["banks", "import", "wave", dir + "/list.csv"]).stdout.hasPrefix("Imported 1 hashes (1 already in the bank)."))
        _ = try run(["banks", "export", "wave", "--output", dir + "/out.csv"])
        let exported = try String(contentsOfFile: dir + "/out.csv", encoding: .utf8).split(separator: "\n")
        #expect(exported.count == 3 && exported[1].hasPrefix("\(Self.bridge),90,2,") && exported[2].hasPrefix("\(Self.other),80,3,"))
        let shown = try run(["banks", "show", "wave"]).stdout
        #expect(shown.hasPrefix("wave  spam → remove  v4, 3 entries, every feed\n") && shown.contains("(campaign 12)"), "\(shown)")
        // Bad input says what to do, and the exit status says it failed.
        let bad = try s.cli(["banks", "add", "wave", "--pdq", "xyz"], as: s.admin)
        #expect(bad.status != 0 && bad.stderr.contains("64 hex digits"), "\(bad.stderr)")

        // The feed's copies are caught at creation.
        let (status, answer) = try await s.server.request("POST", "/v1/items", key: s.feed,
                                                          body: #"{"id": "c1", "text": "CLAIM your fr€e prize m0ney at the link below today!!"}"#)
        #expect(status == 201)
        #expect((answer["match"] as? [String: Any])?["entry"] as? Int == 1, "\(answer)")
        #expect((answer["decision"] as? [String: Any])?["action"] as? String == "remove")

        #expect(try run(["banks", "remove", "wave", "--entry", "1"]).stdout.hasPrefix("Removed entry 1."))
        #expect(try run(["banks", "remove", "wave"]).stdout == "Removed bank wave and its entries.\n")
        #expect(try run(["banks", "list"]).stdout.hasPrefix("No banks yet."))
    }
}
