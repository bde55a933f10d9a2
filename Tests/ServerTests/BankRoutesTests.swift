import Engine
import Foundation
import HTTPTypes
import Learning
import Storage
import Testing

@testable import Server
@testable import Services

/// `/v1/banks` and matching at stage 1 through the API: a bank's entries catch copies before the classifier
/// decides, the answer and the history say so, reviewers' removals bank items and withdrawn labels unbank them,
/// and bad media is a 4xx naming the item and the problem.
@Suite struct BankRoutesTests {
    static let bridge = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"

    /// The bridge hash with its first `bits` bits flipped.
    static func near(_ hex: String, bits: Int) -> String {
        let hash = PDQHash(hex: hex)!
        return PDQHash { i in i >= 256 - bits ? !hash[bit: i] : hash[bit: i] }.hex
    }

    static var sharedMedia: URL? {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/media/pdq/bridge-mods")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    func harness(_ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> Harness {
        var configuration = ServerConfiguration()
        configuration.engine.review.goldRate = 0
        configuration.engine.review.doubleReviewRate = 0
        configure(&configuration)
        let h = try await Harness(configuration: configuration)
        #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["review": 0.0]]])).status == .ok)
        return h
    }

    @Test func aBankIsCreatedFilledAndMatchedAtCreation() async throws {
        let h = try await harness()
        let created = try await h.send(.post, "/v1/banks", body: json(["name": "scam-photos", "label": "spam", "action": "remove"]))
        #expect(created.status == .created, "\(created.body)")
        #expect(created.json["version"] as? Int == 1 && created.json["entries"] as? Int == 0)
        #expect(try await h.send(.post, "/v1/banks", body: json(["name": "scam-photos", "label": "spam", "action": "remove"])).status == .conflict)
        #expect(try await h.send(.post, "/v1/banks", as: .feed, body: json(["name": "x", "label": "spam", "action": "remove"])).status == .forbidden)
        let bad = try await h.send(.post, "/v1/banks", body: json(["name": "Bad Name", "label": "spam", "action": "remove"]))
        #expect(bad.status == .unprocessableContent && bad.error["field"] as? String == "name")
        // Outside testing: GET of a name in capitals was a bare 404 where PUT of it is a 422; the 404 says why.
        let capitals = try await h.send(.get, "/v1/banks/Scam-Photos")
        #expect(capitals.status == .notFound && capitals.error["message"] as? String
                == "There is no bank 'Scam-Photos' (no bank can have that name: a bank name is 1 to 64 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit; names are lower case: 'scam-photos'). GET /v1/banks lists them; POST /v1/banks creates one.",
                "\(capitals.body)")
        // A label the model does not have would be written into decisions as a class that does not exist; the clear
        // class only allows; harm (every harmful class) is a label policies know.
        for (body, field, message) in [
            (["name": "typo", "label": "spma", "action": "remove"], "label", "The model has no class 'spma'; its classes are clear, spam (or 'harm': every class but clear together)"),
            (["name": "clear-remove", "label": "clear", "action": "remove"], "action",
             "A bank of 'clear' (nothing wrong) can only allow its matches; give action allow, or a harmful class as the label"),
            // Outside testing: an empty list made a bank that matched nothing; a feed named twice was stored twice.
            (["name": "nowhere", "label": "spam", "action": "remove", "feeds": [String]()], "feeds", "Name at least one feed, or leave feeds out for every feed"),
            (["name": "twice", "label": "spam", "action": "remove", "feeds": ["a", "b", "a"]], "feeds[2]", "'a' is given twice (feeds[0] too); name each feed once"),
        ] as [([String: Any], String, String)] {
            let refused = try await h.send(.post, "/v1/banks", body: json(body))
            #expect(refused.status == .unprocessableContent && refused.error["field"] as? String == field && refused.error["message"] as? String == message,
                    "\(refused.body)")
            #expect(try await h.send(.get, "/v1/banks/\(body["name"]!)").status == .notFound)
        }
        #expect(try await h.send(.post, "/v1/banks", body: json(["name": "known-good", "label": "clear", "action": "allow"])).status == .created)
        #expect(try await h.send(.post, "/v1/banks", body: json(["name": "any-harm", "label": "harm", "action": "demote"])).status == .created)

        let added = try await h.send(.post, "/v1/banks/scam-photos/entries", body: json(["entries": [
            ["type": "image", "pdq": Self.bridge, "quality": 100, "note": "the bridge"],
            ["type": "text", "text": "send your bank details to claim the prize money today"],
        ]]))
        #expect(added.status == .created, "\(added.body)")
        #expect((added.json["bank"] as? [String: Any])?["entries"] as? Int == 2)
        let entries = try #require(added.json["entries"] as? [[String: Any]])
        let imageEntry = try #require(entries[0]["id"] as? Int)
        // Sent again (a retried request): the entries live already are returned, nothing is created, 200.
        let resent = try await h.send(.post, "/v1/banks/scam-photos/entries", body: json(["entries": [["type": "image", "pdq": Self.bridge, "quality": 100]]]))
        #expect(resent.status == .ok && (resent.json["entries"] as? [[String: Any]])?.map { $0["id"] as? Int } == [imageEntry], "\(resent.body)")
        #expect((resent.json["bank"] as? [String: Any])?["version"] as? Int == (added.json["bank"] as? [String: Any])?["version"] as? Int)
        // Pages: `next` while there is more, none on the last page even when it is full (outside testing: it had one).
        let first = try await h.send(.get, "/v1/banks/scam-photos/entries?limit=1")
        #expect((first.json["entries"] as? [[String: Any]])?.map { $0["id"] as? Int } == [imageEntry] && first.json["next"] as? Int == imageEntry)
        let last = try await h.send(.get, "/v1/banks/scam-photos/entries?limit=1&after=\(imageEntry)")
        #expect((last.json["entries"] as? [[String: Any]])?.count == 1 && last.json["next"] == nil, "\(last.body)")
        let whole = try await h.send(.get, "/v1/banks/scam-photos/entries?limit=2")
        #expect((whole.json["entries"] as? [[String: Any]])?.count == 2 && whole.json["next"] == nil, "\(whole.body)")

        // An item whose image is 12 bits from the bridge: removed by the bank, whatever the classifier says.
        let item = try await h.post("/v1/items", json(["id": "p1", "text": "look at this view", "media": [["type": "image", "pdq": Self.near(Self.bridge, bits: 12), "quality": 90]]]))
        #expect(item.status == .created, "\(item.body)")
        let decision = try #require(item.json["decision"] as? [String: Any])
        #expect(decision["action"] as? String == "remove" && decision["label"] as? String == "spam")
        #expect(decision["reason"] as? String == "matched bank scam-photos v2, entry \(imageEntry), image 0 distance 12")
        let match = try #require(item.json["match"] as? [String: Any])
        #expect(match["bank"] as? String == "scam-photos" && match["distance"] as? Int == 12 && match["kind"] as? String == "image" && match["media"] as? Int == 0)
        // 40 bits away is another picture; a low-quality hash is not matched.
        let far = try await h.post("/v1/items", json(["id": "p2", "text": "look at this view", "media": [["type": "image", "pdq": Self.near(Self.bridge, bits: 40), "quality": 90]]]))
        #expect(far.json["match"] == nil && (far.json["decision"] as? [String: Any])?["action"] as? String != "remove")
        let flat = try await h.post("/v1/items", json(["id": "p3", "text": "look at this view", "media": [["type": "image", "pdq": Self.bridge, "quality": 10]]]))
        #expect(flat.json["match"] == nil)
        // A reworded, obfuscated copy of the banked text.
        let text = try await h.post("/v1/items", json(["id": "t1", "text": "SEND your b@nk details to claim the prize m0ney today!!!"]))
        #expect((text.json["match"] as? [String: Any])?["kind"] as? String == "text", "\(text.body)")
        // The history keeps the match; the metric counts it.
        let shown = try await h.send(.get, "/v1/items/p1", as: .feed)
        let history = try #require(shown.json["history"] as? [[String: Any]])
        #expect(((history.first?["stage"] as? [String: Any])?["match"] as? [String: Any])?["entry"] as? Int == imageEntry)
        let metrics = try await h.send(.get, "/metrics", as: .admin)
        #expect(metric(metrics.body, #"winnow_bank_matches_total{bank="scam-photos",kind="image",action="remove"}"#) == 1,
                "\(metrics.body.split(separator: "\n").filter { $0.contains("bank") })")

        // Removing the entry stops the matching.
        #expect(try await h.send(.delete, "/v1/banks/scam-photos/entries/\(imageEntry)").status == .ok)
        let after = try await h.post("/v1/items", json(["id": "p4", "text": "look at this view", "media": [["type": "image", "pdq": Self.bridge, "quality": 90]]]))
        #expect(after.json["match"] == nil)
        #expect(try await h.send(.delete, "/v1/banks/scam-photos/entries/\(imageEntry)").status == .notFound)
        // The item it matched is no longer held to the bank at its next stage: the policy decides it again.
        let rescored = try await h.post("/v1/items/p1/engagement", json(["views": 5_000]))
        #expect(rescored.status == .ok, "\(rescored.body)")
        let current = try #require(rescored.json["item"] as? [String: Any])
        #expect(current["stage"] as? String == "engagement" && current["match"] == nil, "\(rescored.body)")
        #expect((current["decision"] as? [String: Any])?["action"] as? String == "review")
    }

    /// An item that is only media (a photo without a caption) goes in without text: scored as a text the model knows
    /// nothing of (the class prior, evidence 0) and matched against the banks by its image. A blank text is still
    /// refused, and an item with neither is told what to send.
    @Test func anItemThatIsOnlyMediaGoesInWithoutText() async throws {
        let h = try await Harness()
        let photo = try await h.post("/v1/items", json(["id": "photo", "media": [["type": "image", "pdq": Self.bridge, "quality": 90]]]))
        #expect(photo.status == .created, "\(photo.body)")
        #expect(photo.json["evidence"] as? Double == 0, "\(photo.body)")
        // The prior decides nothing: the photo is allowed (the default model's prior is mostly harmful).
        #expect((photo.json["decision"] as? [String: Any])?["action"] as? String == "allow", "\(photo.body)")
        let probabilities = try #require(photo.json["probabilities"] as? [String: Double])
        #expect(abs(probabilities.values.reduce(0, +) - 1) < 1e-9)
        // The class prior: the shares of the model's training examples.
        let counts = h.service.model.textModel.header.training.classCounts
        for (index, name) in h.service.model.textModel.classes.enumerated() {
            #expect(probabilities[name] == Double(counts[index]) / Double(counts.reduce(0, +)), "\(name)")
        }
        let blank = try await h.post("/v1/items", json(["id": "blank", "text": "  ", "media": [["type": "image", "pdq": Self.bridge, "quality": 90]]]))
        #expect(blank.status == .unprocessableContent && blank.error["field"] as? String == "text")
        let nothing = try await h.post("/v1/items", json(["id": "nothing"]))
        #expect(nothing.status == .unprocessableContent && nothing.error["field"] as? String == "text", "\(nothing.body)")
        #expect((nothing.error["message"] as? String)?.contains("no text and no media") == true)
        // An empty media list without text names the list (it named text).
        let empty = try await h.post("/v1/items", json(["id": "empty", "media": [Any]()]))
        #expect(empty.status == .unprocessableContent && empty.error["field"] as? String == "media", "\(empty.body)")
        #expect(try await h.post("/v1/items", json(["id": "empty", "text": "words", "media": [Any]()])).status == .created)
        // In a batch, the same rules item by item.
        let batch = try await h.post("/v1/items:batch", json(["items": [["id": "p2", "media": [["type": "image", "pdq": Self.bridge, "quality": 90]]], ["id": "p3"]]]))
        let results = try #require(batch.json["results"] as? [[String: Any]], "\(batch.body)")
        #expect(results.count == 2 && results[0]["status"] as? Int == 201 && results[1]["status"] as? Int == 422, "\(batch.body)")
    }

    @Test func theHashListCSVGoesInAndOut() async throws {
        let h = try await harness()
        #expect(try await h.send(.put, "/v1/banks/te", body: json(["label": "spam", "action": "review", "feeds": ["default"]])).status == .created)
        // The same settings again change nothing: the version stays (it rose on every PUT); a change raises it.
        let same = try await h.send(.put, "/v1/banks/te", body: json(["label": "spam", "action": "review", "feeds": ["default"]]))
        #expect(same.status == .ok && same.json["version"] as? Int == 1, "\(same.body)")
        let changed = try await h.send(.put, "/v1/banks/te", body: json(["label": "spam", "action": "review", "feeds": ["default"], "description": "shared list"]))
        #expect(changed.status == .ok && changed.json["version"] as? Int == 2, "\(changed.body)")
        let csv = "hash,quality,note\n\(Self.bridge),95,\"bridge, original\"\n\(Self.near(Self.bridge, bits: 64)),80,\n"
        let imported = try await h.send(.post, "/v1/banks/te/import", body: csv, headers: [.contentType: "text/csv"])
        #expect(imported.status == .created, "\(imported.body)")
        #expect(imported.json["added"] as? Int == 2 && imported.json["existing"] as? Int == 0)
        let again = try await h.send(.post, "/v1/banks/te/import", body: csv, headers: [.contentType: "text/csv"])
        // Nothing new (a retried import): 200, and the bank's version stays.
        #expect(again.status == .ok && again.json["added"] as? Int == 0 && again.json["existing"] as? Int == 2, "\(again.body)")
        #expect((again.json["bank"] as? [String: Any])?["version"] as? Int == (imported.json["bank"] as? [String: Any])?["version"] as? Int)
        let exported = try await h.send(.get, "/v1/banks/te/export")
        #expect(exported.headers[.contentType] == "text/csv; charset=utf-8")
        let lines = exported.body.split(separator: "\n")
        #expect(lines.first == "hash,quality,id,note" && lines.count == 3)
        #expect(lines[1].hasPrefix("\(Self.bridge),95,") && lines[1].hasSuffix(",\"bridge, original\""))
        let broken = try await h.send(.post, "/v1/banks/te/import", body: "hash\nnot-a-hash\n", headers: [.contentType: "text/csv"])
        #expect(broken.status == .unprocessableContent && (broken.error["message"] as? String)?.contains("Line 2") == true, "\(broken.body)")
        #expect(try await h.send(.post, "/v1/banks/te/import", body: csv).status == .unsupportedMediaType)
        #expect(try await h.send(.post, "/v1/banks/te/import", body: csv, headers: [.contentType: "text/csv; charset=latin1"]).status == .unsupportedMediaType)
        // A spreadsheet's export starts with a byte-order mark: read past it (it was "column 1 is not a PDQ hash").
        let marked = try await h.send(.post, "/v1/banks/te/import", body: "\u{FEFF}" + csv, headers: [.contentType: "text/csv; charset=utf-8"])
        #expect(marked.status == .ok && marked.json["existing"] as? Int == 2, "\(marked.body)")
        #expect(try await h.send(.get, "/v1/banks/none/export").status == .notFound)
    }

    /// Outside testing: the hash-list reader took an unclosed quote, ragged rows, a header naming a column twice, an
    /// empty quality (read as 100) and invalid UTF-8 (stored as U+FFFD), where it promises that a bad line refuses the
    /// whole file, naming the line.
    @Test(arguments: [
        ("hash,quality,note\n\(bridge),90,\"abc\n", "line 2: a quoted field is not closed on its line"),
        ("hash,quality,note\n\(bridge),90\n", "line 2: 2 fields where the header has 3"),
        ("hash,quality\n\(bridge),90,extra\n", "line 2: 3 fields where the header has 2"),
        ("hash,pdq,quality\n\(bridge),\(bridge),90\n", "line 1: the header names the hash column twice (columns 1 and 2)"),
        ("hash,note,note\n\(bridge),a,b\n", "line 1: the header names the note column twice (columns 2 and 3)"),
        ("hash,quality\n\(bridge),\n", "line 2: the quality is empty; give 0 to 100"),
        ("hash,quality,note\n\(bridge),90,\"a\"b\n", "line 2: 'b' after a quoted field's closing quote"),
        ("\(bridge),90,note\n", "line 1: 3 fields without a header"),
    ])
    func aBadHashListIsRefusedNamingTheLine(_ csv: String, _ message: String) throws {
        #expect(throws: ValidationError.self) { try BankCSV.parse(csv) }
        do { _ = try BankCSV.parse(csv) } catch let error as ValidationError { #expect(error.message.hasPrefix(message), "\(error.message)") }
    }

    /// Outside testing: concurrent imports to one bank each reported the bank's growth as theirs (added 100 to 700,
    /// existing 0). Each counts what it added, in its own transactions.
    @Test func concurrentImportsEachCountTheirOwn() async throws {
        let h = try await harness()
        #expect(try await h.send(.put, "/v1/banks/te", body: json(["label": "spam", "action": "review"])).status == .created)
        func hash(_ value: Int) -> String { "ab" + String(repeating: "0", count: 46) + String(format: "%016llx", value) }
        let shared = (1...10).map { hash($0) }
        #expect(try await h.send(.post, "/v1/banks/te/import", body: "hash\n" + shared.joined(separator: "\n"), headers: [.contentType: "text/csv"]).status == .created)
        let answers = try await withThrowingTaskGroup(of: Harness.Answer.self) { group in
            for n in 0..<6 {
                // 100 hashes of this import's own and the 10 shared ones.
                let own = (0..<100).map { hash(1_000 * (n + 1) + $0) }
                let csv = "hash\n" + (own + shared).joined(separator: "\n")
                group.addTask { try await h.send(.post, "/v1/banks/te/import", body: csv, headers: [.contentType: "text/csv"]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for answer in answers { #expect(answer.json["added"] as? Int == 100 && answer.json["existing"] as? Int == 10, "\(answer.body)") }
        #expect(try await h.send(.get, "/v1/banks/te").json["entries"] as? Int == 610)
    }

    @Test func aGoodHashListIsReadWithItsQuotedNotes() throws {
        let entries = try BankCSV.parse("hash,quality,note\n\(Self.bridge),90,\"a, \"\"quoted\"\" note\"\n\(Self.near(Self.bridge, bits: 8)), 70 , plain\n")
        #expect(entries.map(\.note) == ["a, \"quoted\" note", "plain"])
        #expect(entries.map { if case let .image(i) = $0.signature { i.quality } else { -1 } } == [90, 70])
        #expect(try BankCSV.parse("\(Self.bridge)\n\(Self.near(Self.bridge, bits: 4)),55\n").count == 2)
        // A note a spreadsheet would run as a formula is exported behind an apostrophe.
        #expect(BankCSV.exportedNote("=cmd|calc!A1") == "'=cmd|calc!A1" && BankCSV.exportedNote("-1, really") == "\"'-1, really\"")
        #expect(BankCSV.exportedNote("fine") == "fine")
        #expect(BankCSV.exportedNote("|calc'!A0") == "'|calc'!A0" && BankCSV.exportedNote("＝1+1") == "'＝1+1")
    }

    @Test func aHashListThatIsNotUTF8IsRefusedNamingTheLine() async throws {
        let h = try await harness()
        #expect(try await h.send(.put, "/v1/banks/te", body: json(["label": "spam", "action": "review"])).status == .created)
        var bytes = Array("hash,quality,note\n\(Self.bridge),90,ok\n\(Self.near(Self.bridge, bits: 8)),90,caf".utf8)
        bytes += [0xE9, 0x0A]
        let refused = try await h.send(.post, "/v1/banks/te/import", bytes: bytes, headers: [.contentType: "text/csv"])
        #expect(refused.status == .unprocessableContent, "\(refused.body)")
        #expect(refused.error["message"] as? String == "The hash list is not UTF-8 (line 3); save it as UTF-8 CSV.", "\(refused.body)")
        #expect(try await h.send(.get, "/v1/banks/te").json["entries"] as? Int == 0)
    }

    /// A post with text and an image ("w1"), sent to review and removed as spam by a moderator: its ticket's id.
    func removedByAReviewer(_ h: Harness) async throws -> Int {
        let text = "cheap watches shipped free order at the shop link now"
        #expect(try await h.post("/v1/items", json(["id": "w1", "text": text, "media": [["type": "image", "pdq": Self.bridge, "quality": 90]]])).status == .created)
        let claimed = try await h.post("/v1/review/claim", as: .moderator, "{}")
        let ticket = try #require(((claimed.json["tickets"] as? [[String: Any]])?.first?["ticket"] as? [String: Any])?["id"] as? Int)
        let decided = try await h.post("/v1/review/tickets/\(ticket)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"]))
        #expect(decided.status == .ok, "\(decided.body)")
        return ticket
    }

    @Test func aReviewersRemovalBanksTheItemAndWithdrawingTheLabelUnbanksIt() async throws {
        let h = try await harness()
        let ticket = try await removedByAReviewer(h)
        let bank = try await h.send(.get, "/v1/banks/default-spam-removed")
        #expect(bank.status == .ok && bank.json["entries"] as? Int == 2 && bank.json["action"] as? String == "remove" && bank.json["feeds"] as? [String] == ["default"])
        let entries = try #require(try await h.send(.get, "/v1/banks/default-spam-removed/entries").json["entries"] as? [[String: Any]])
        #expect(Set(entries.map { $0["kind"] as? String }) == ["text", "image"])
        let source = try #require(entries.first?["source"] as? [String: Any])
        #expect(source["ticketID"] as? Int == ticket && source["itemID"] as? String == "w1")
        let labelID = try #require(source["labelID"] as? Int)
        // The next copy is removed at creation, with the ticket as provenance, and opens no ticket.
        let copy = try await h.post("/v1/items", json(["id": "w2", "text": "Cheap watches shipped FREE, order at the shop link now!"]))
        #expect((copy.json["decision"] as? [String: Any])?["action"] as? String == "remove")
        #expect((copy.json["match"] as? [String: Any])?["ticketID"] as? Int == ticket)
        #expect((try await h.post("/v1/review/claim", as: .moderator, "{}").json["tickets"] as? [[String: Any]])?.isEmpty == true)
        // Withdrawing the label takes the entries out of the bank, and copies are scored alone again.
        #expect(try await h.send(.post, "/v1/labels/\(labelID)/withdraw").status == .ok)
        #expect(try await h.send(.get, "/v1/banks/default-spam-removed").json["entries"] as? Int == 0)
        let later = try await h.post("/v1/items", json(["id": "w3", "text": "cheap watches shipped free, order at the shop link now"]))
        #expect(later.json["match"] == nil && (later.json["decision"] as? [String: Any])?["action"] as? String == "review")
    }

    /// Outside testing: an appeal decided `clear` at tier 2 left the overturned removal's entries in the bank, and copies
    /// of the cleared post were still removed on its strength. A person's later decision that does not remove, and now
    /// counts over the removal, takes them out.
    @Test func anAppealThatClearsARemovalUnbanksIt() async throws {
        let h = try await harness()
        let ticket = try await removedByAReviewer(h)
        #expect(try await h.send(.get, "/v1/banks/default-spam-removed").json["entries"] as? Int == 2)
        #expect(try await h.post("/v1/items/w1/appeal", json(["note": "it is my own shop"])).status == .created)
        let senior = try await h.post("/v1/review/claim", as: .admin, json(["tiers": [2]]))
        let appeal = try #require(((senior.json["tickets"] as? [[String: Any]])?.first?["ticket"] as? [String: Any])?["id"] as? Int, "\(senior.body)")
        let cleared = try await h.post("/v1/review/tickets/\(appeal)/decision", as: .admin, json(["label": "clear", "reasonCode": "not_violating"]))
        #expect(cleared.status == .ok, "\(cleared.body)")
        #expect(try await h.send(.get, "/v1/banks/default-spam-removed").json["entries"] as? Int == 0)
        let copy = try await h.post("/v1/items", json(["id": "w2", "text": "Cheap watches shipped FREE, order at the shop link now!"]))
        #expect(copy.json["match"] == nil, "\(copy.body)")
    }

    /// Outside testing: correcting a reviewer's removal from one harmful class to another kept the removal but dropped
    /// its bank entries (copies were no longer caught). They move to the corrected class's bank.
    @Test func correctingARemovalToAnotherHarmfulClassMovesItsEntries() async throws {
        var configuration = ServerConfiguration()
        configuration.engine.review.goldRate = 0
        configuration.engine.review.doubleReviewRate = 0
        let h = try await Harness(configuration: configuration, model: Fixture.threeClassModel)
        #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["review": 0.0]]])).status == .ok)
        let ticket = try await removedByAReviewer(h)
        let entries = try #require(try await h.send(.get, "/v1/banks/default-spam-removed/entries").json["entries"] as? [[String: Any]])
        let labelID = try #require((entries.first?["source"] as? [String: Any])?["labelID"] as? Int)
        let corrected = try await h.send(.post, "/v1/labels/\(labelID)/correct", body: json(["label": "abuse"]))
        #expect(corrected.status == .created, "\(corrected.body)")
        #expect(try await h.send(.get, "/v1/banks/default-spam-removed").json["entries"] as? Int == 0)
        let moved = try #require(try await h.send(.get, "/v1/banks/default-abuse-removed/entries").json["entries"] as? [[String: Any]])
        #expect(Set(moved.map { $0["kind"] as? String }) == ["text", "image"])
        #expect(moved.allSatisfy { ($0["source"] as? [String: Any])?["ticketID"] as? Int == ticket && ($0["source"] as? [String: Any])?["labelID"] as? Int != labelID })
        // A copy is caught by the corrected class's bank.
        let copy = try await h.post("/v1/items", json(["id": "w2", "text": "Cheap watches shipped FREE, order at the shop link now!"]))
        #expect((copy.json["match"] as? [String: Any])?["bank"] as? String == "default-abuse-removed", "\(copy.body)")
        // Corrected to the clear class, nothing is banked again.
        let newID = try #require((moved.first?["source"] as? [String: Any])?["labelID"] as? Int)
        #expect(try await h.send(.post, "/v1/labels/\(newID)/correct", body: json(["label": "clear"])).status == .created)
        #expect(try await h.send(.get, "/v1/banks/default-abuse-removed").json["entries"] as? Int == 0)
        #expect(try await h.send(.get, "/v1/banks/default-clear-removed").status == .notFound)
    }

    /// Four near-copies of one scam (c0-c3: case, punctuation, a look-alike letter, a word moved) and an unrelated
    /// post ("other"), each sent to review by the harness's policy; the copies' texts.
    func postWave(_ h: Harness) async throws -> [String] {
        let copies = ["Cheap watches shipped free, order at the shop link now", "CHEAP watches shipped fr€e order at the shop link now!!",
                      "cheap watches shipped free order now at the shop link", "Cheap w@tches shipped free, order at the shop link now"]
        for (n, text) in copies.enumerated() { #expect(try await h.post("/v1/items", json(["id": "c\(n)", "text": text])).status == .created) }
        #expect(try await h.post("/v1/items", json(["id": "other", "text": "the library opens at nine on saturdays this month"])).status == .created)
        return copies
    }

    @Test func copiesWaitingInTheQueueAreOneWaveAndOneDecisionSettlesThem() async throws {
        let h = try await harness { $0.engine.banks.automatic = false }
        let copies = try await postWave(h)
        let claimed = try await h.post("/v1/review/claim", as: .moderator, "{}")
        let detail = try #require((claimed.json["tickets"] as? [[String: Any]])?.first)
        let lead = try #require((detail["ticket"] as? [String: Any])?["id"] as? Int)
        let wave = try #require(detail["wave"] as? [String: Any], "\(claimed.body)")
        #expect(wave["copies"] as? Int == 3)
        let waiting = try #require(wave["tickets"] as? [Int])
        #expect(!waiting.contains(lead))
        let decided = try await h.post("/v1/review/tickets/\(lead)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam", "wave": true]))
        #expect(decided.status == .ok, "\(decided.body)")
        #expect((decided.json["wave"] as? [String: Any])?["decided"] as? Int == 3)
        #expect(Set((decided.json["wave"] as? [String: Any])?["tickets"] as? [Int] ?? []) == Set(waiting))
        // Each copy has its own review stage and label, with the wave as provenance.
        for n in 0..<copies.count {
            let item = try await h.send(.get, "/v1/items/c\(n)", as: .feed)
            #expect((item.json["current"] as? [String: Any]).flatMap { ($0["decision"] as? [String: Any])?["action"] as? String } == "remove", "\(item.body)")
        }
        let labels = try #require(try await h.send(.get, "/v1/labels").json["labels"] as? [[String: Any]])
        #expect(labels.filter { $0["label"] as? String == "spam" }.count == 4)
        let history = try await h.send(.get, "/v1/review/tickets/\(waiting[0])", as: .admin)
        let notes = (history.json["history"] as? [[String: Any]] ?? []).compactMap { ($0["ticket"] as? [String: Any])?["note"] as? String }
        #expect(notes.contains("wave of ticket \(lead)"), "\(history.body)")
        // The unrelated item is still waiting, alone.
        let next = try await h.post("/v1/review/claim", as: .moderator, "{}")
        let rest = try #require((next.json["tickets"] as? [[String: Any]])?.first)
        #expect((rest["item"] as? [String: Any])?["id"] as? String == "other" && rest["wave"] == nil)
    }

    /// Outside testing: a wave decided by a first review drawn for a second one (hidden, four eyes) removed and banked
    /// every copy on one person's word, and when the second reviewer disagreed and tier 2 cleared the item, the copies
    /// stayed removed and banked. The copies now wait for the decision that stands; that decision's wave settles them
    /// (and a copy drawn for two reviews then gets a first review, which can be taken back as if never given).
    @Test func aWaveWaitsForTheDecisionThatStandsAndAHiddenFirstReviewOfACopyCanBeTakenBack() async throws {
        let h = try await harness {
            $0.engine.banks.automatic = true
            $0.engine.review.doubleReviewRate = 1
        }
        _ = try await postWave(h)
        let claimed = try await h.post("/v1/review/claim", as: .moderator, "{}")
        let detail = try #require((claimed.json["tickets"] as? [[String: Any]])?.first)
        let lead = try #require((detail["ticket"] as? [String: Any])?["id"] as? Int)
        let decided = try await h.post("/v1/review/tickets/\(lead)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam", "wave": true]))
        #expect(decided.json["outcome"] as? String == "awaiting_second_review", "\(decided.body)")
        // Nothing of the copies moved, and nothing was banked.
        #expect(((decided.json["wave"] as? [String: Any])?["tickets"] as? [Int] ?? []).isEmpty, "\(decided.body)")
        let queue = try await h.send(.get, "/v1/review/queue?tier=1", as: .admin)
        let open = (queue.json["tickets"] as? [[String: Any]] ?? []).filter { ($0["itemId"] as? String)?.hasPrefix("c") == true }
            .compactMap { $0["id"] as? Int }.filter { $0 != lead }
        #expect(open.count == 3, "the copies are still open: \(queue.body)")
        let banked = try await h.send(.get, "/v1/banks", as: .admin)
        let sizes = (banked.json["banks"] as? [[String: Any]] ?? []).map { $0["entries"] as? Int ?? 0 }
        #expect(sizes.reduce(0, +) == 0, "\(banked.body)")
        // The second reviewer agrees with a wave: the lead is decided and the copies, drawn for two reviews too, get
        // it as their first review.
        let second = try await h.post("/v1/review/claim", as: .admin, json(["count": 1]))
        let held = try #require(((second.json["tickets"] as? [[String: Any]])?.first?["ticket"] as? [String: Any])?["id"] as? Int)
        #expect(held == lead, "\(second.body)")
        let settled = try await h.post("/v1/review/tickets/\(lead)/decision", as: .admin, json(["label": "spam", "reasonCode": "spam", "wave": true]))
        #expect(settled.json["outcome"] as? String == "decided", "\(settled.body)")
        let wave = try #require(settled.json["wave"] as? [String: Any])
        let copies = try #require(wave["tickets"] as? [Int])
        #expect(copies.count == 3 && wave["decided"] as? Int == 0 && Set(wave["awaitingSecondReview"] as? [Int] ?? []) == Set(copies), "\(settled.body)")
        // Taking back a copy's first review: the ticket is the admin's again, as if never judged.
        let undone = try await h.post("/v1/review/tickets/\(copies[0])/undo", as: .admin, "{}")
        #expect(undone.status == .ok, "\(undone.body)")
        let again = try await h.post("/v1/review/tickets/\(copies[0])/decision", as: .admin, json(["label": "clear", "reasonCode": "not_violating"]))
        #expect(again.status == .ok && again.json["outcome"] as? String == "awaiting_second_review", "\(again.body)")
        // Someone else's hidden first review is not theirs to take back.
        #expect(try await h.post("/v1/review/tickets/\(copies[1])/undo", as: .moderator, "{}").status == .conflict)
    }

    /// Outside testing: at tier 2 a wave offered (and settled) copies of items the reviewer had judged before, which
    /// four eyes keeps from them: the claim would never hand them over. They are left out of the wave.
    @Test func aTierTwoWaveLeavesOutCopiesTheReviewerJudgedBefore() async throws {
        let h = try await harness { $0.engine.banks.automatic = false }
        _ = try await postWave(h)
        // The moderator escalates one copy, the admin (tier 1 and 2) the three others.
        func escalate(_ role: Role, count: Int) async throws -> [(id: Int, version: Int)] {
            let claimed = try await h.post("/v1/review/claim", as: role, json(["count": count]))
            let tickets = (claimed.json["tickets"] as? [[String: Any]] ?? []).compactMap { $0["ticket"] as? [String: Any] }
            for t in tickets where (t["itemId"] as? String)?.hasPrefix("c") == true {
                let id = t["id"] as? Int ?? 0
                #expect(try await h.post("/v1/review/tickets/\(id)/escalate", as: role, json(["note": "copies?"])).status == .ok)
            }
            return tickets.compactMap { t in (t["itemId"] as? String)?.hasPrefix("c") == true ? (t["id"] as? Int ?? 0, 0) : nil }
        }
        let byModerator = try await escalate(.moderator, count: 1)
        _ = try await escalate(.admin, count: 10)
        #expect(byModerator.count == 1)
        let claimed = try await h.post("/v1/review/claim", as: .admin, json(["tiers": [2], "count": 10]))
        let held = (claimed.json["tickets"] as? [[String: Any]] ?? [])
        // Four eyes: the admin gets only the moderator's escalation, and its wave holds none of the admin's copies.
        #expect(held.count == 1 && (held.first?["ticket"] as? [String: Any])?["id"] as? Int == byModerator[0].id, "\(claimed.body)")
        #expect(held.first?["wave"] == nil, "\(claimed.body)")
        let decided = try await h.post("/v1/review/tickets/\(byModerator[0].id)/decision", as: .admin, json(["label": "spam", "reasonCode": "spam", "wave": true]))
        #expect((decided.json["wave"] as? [String: Any])?["tickets"] as? [Int] == [], "\(decided.body)")
    }

    /// A claim of several tickets often holds copies of each other: they are part of the wave of each (the caller's to
    /// decide), while a copy someone else holds is left to them.
    @Test func copiesInTheCallersOwnClaimJoinTheWaveAndAnotherReviewersDoNot() async throws {
        let h = try await harness { $0.engine.banks.automatic = false }
        _ = try await postWave(h)
        func held(_ answer: Harness.Answer) -> [(ticket: Int, item: String)] {
            (answer.json["tickets"] as? [[String: Any]] ?? []).compactMap {
                guard let id = ($0["ticket"] as? [String: Any])?["id"] as? Int, let item = ($0["item"] as? [String: Any])?["id"] as? String else { return nil }
                return (id, item)
            }
        }
        let admins = held(try await h.post("/v1/review/claim", as: .admin, json(["count": 1])))
        #expect(admins.count == 1)
        let claim = try await h.post("/v1/review/claim", as: .moderator, json(["count": 10]))
        let mine = held(claim)
        #expect(mine.count == 4, "\(claim.body)")
        let myCopies = mine.filter { $0.item.hasPrefix("c") }.map(\.ticket)
        let lead = try #require(myCopies.first)
        let expected = Set(myCopies.dropFirst())
        #expect(expected.count == (admins[0].item.hasPrefix("c") ? 2 : 3))
        let detail = try #require((claim.json["tickets"] as? [[String: Any]])?.first { ($0["ticket"] as? [String: Any])?["id"] as? Int == lead })
        #expect(Set((detail["wave"] as? [String: Any])?["tickets"] as? [Int] ?? []) == expected, "\(detail)")
        let decided = try await h.post("/v1/review/tickets/\(lead)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam", "wave": true]))
        #expect(decided.status == .ok, "\(decided.body)")
        #expect(Set((decided.json["wave"] as? [String: Any])?["tickets"] as? [Int] ?? []) == expected)
        // The admin's ticket is still theirs and open; the settled copies cannot be decided again.
        let adminTicket = try await h.send(.get, "/v1/review/tickets/\(admins[0].ticket)", as: .admin)
        #expect((adminTicket.json["ticket"] as? [String: Any])?["status"] as? String == "open", "\(adminTicket.body)")
        for id in expected {
            let again = try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"]))
            #expect(again.status == .conflict, "\(again.body)")
        }
    }

    /// A wave's copies are banked on their own labels, even when their signature equals the lead's: taking back the
    /// lead's decision unbanks the lead's entry only, and later copies are still caught on the copy's.
    @Test func takingBackAWavesLeadKeepsItsCopiesBanked() async throws {
        let h = try await harness()
        // The same scam posted twice: one signature (and, posted in capitals after the undo, a third copy the
        // tokenizer reads alike).
        let texts = ["Cheap watches shipped free order at the shop link now", "Cheap watches shipped free order at the shop link now"]
        for (n, text) in texts.enumerated() { #expect(try await h.post("/v1/items", json(["id": "c\(n)", "text": text])).status == .created) }
        let claimed = try await h.post("/v1/review/claim", as: .moderator, "{}")
        let lead = try #require(((claimed.json["tickets"] as? [[String: Any]])?.first?["ticket"] as? [String: Any])?["id"] as? Int)
        let decided = try await h.post("/v1/review/tickets/\(lead)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam", "wave": true]))
        #expect((decided.json["wave"] as? [String: Any])?["decided"] as? Int == 1, "\(decided.body)")
        let entries = try #require(try await h.send(.get, "/v1/banks/default-spam-removed/entries").json["entries"] as? [[String: Any]])
        #expect(entries.count == 2)
        #expect(Set(entries.compactMap { $0["value"] as? String }).count == 1)
        #expect(Set(entries.compactMap { ($0["source"] as? [String: Any])?["labelID"] as? Int }).count == 2)
        #expect(try await h.post("/v1/review/tickets/\(lead)/undo", as: .moderator, "{}").status == .ok)
        let left = try #require(try await h.send(.get, "/v1/banks/default-spam-removed/entries").json["entries"] as? [[String: Any]])
        #expect(left.count == 1 && (left.first?["source"] as? [String: Any])?["ticketID"] as? Int != lead, "\(left)")
        let later = try await h.post("/v1/items", json(["id": "c9", "text": "CHEAP WATCHES SHIPPED FREE ORDER AT THE SHOP LINK NOW"]))
        #expect((later.json["match"] as? [String: Any])?["bank"] as? String == "default-spam-removed", "\(later.body)")
    }

    /// A video signature of more than `BankSignature.maxFrames` frame hashes is too large (code too_large), and the
    /// error names the entry's field; at the cap it is taken.
    @Test func aVideoSignatureOverTheFrameCapIsTooLarge() async throws {
        let h = try await harness()
        #expect(try await h.send(.post, "/v1/banks", body: json(["name": "clips", "label": "spam", "action": "remove"])).status == .created)
        // Every frame of a 30 fps video (a frame's time stays within the longest video taken, 600 s).
        func frames(_ n: Int) -> String { (0..<n).map { "\(Double($0) / 30):90:" + String(repeating: "a", count: 64) }.joined(separator: " ") }
        let over = try await h.send(.post, "/v1/banks/clips/entries", body: json(["entries": [["type": "video", "frames": frames(BankSignature.maxFrames + 1)]]]))
        #expect(over.status == .unprocessableContent && over.error["code"] as? String == "too_large", "\(over.body.prefix(300))")
        #expect(over.error["field"] as? String == "entries[0].frames")
        let at = try await h.send(.post, "/v1/banks/clips/entries", body: json(["entries": [["type": "video", "frames": frames(BankSignature.maxFrames)]]]))
        #expect(at.status == .created, "\(at.body.prefix(300))")
    }

    /// Outside testing: a text entry's pdq was ignored without a word, an image entry's misplaced text was reported as
    /// a missing pdq, frames at -1 s or 10⁹ s were taken, and over 10,000 entries was `invalid_value`.
    @Test func anEntrysFieldsBelongToItsType() async throws {
        let h = try await harness()
        #expect(try await h.send(.post, "/v1/banks", body: json(["name": "typed", "label": "spam", "action": "remove"])).status == .created)
        let hash = String(repeating: "a", count: 64)
        for (entry, field, words) in [
            (["type": "text", "text": "win a free phone today by clicking this link", "pdq": hash, "quality": 100], "entries[0].pdq", "A text entry takes signature, text (and note), not pdq"),
            (["type": "image", "text": "win a free phone today"], "entries[0].text", "An image entry takes data, pdq, quality (and note), not text"),
            (["type": "video", "frames": "-1:100:\(hash)"], "entries[0].frames", "Frame 0 is at -1.0 s; a frame's time is 0 to 600 s"),
            (["type": "video", "frames": "0:100:\(hash) 1e9:100:\(hash)"], "entries[0].frames", "Frame 1 is at 1000000000.0 s"),
        ] as [([String: Any], String, String)] {
            let refused = try await h.send(.post, "/v1/banks/typed/entries", body: json(["entries": [entry]]))
            #expect(refused.status == .unprocessableContent && refused.error["field"] as? String == field, "\(refused.body)")
            #expect((refused.error["message"] as? String)?.contains(words) == true, "\(refused.body)")
        }
        let many = try await h.send(.post, "/v1/banks/typed/entries", body: json(["entries": Array(repeating: ["type": "image", "pdq": hash, "quality": 90], count: 10_001)]))
        #expect(many.status == .unprocessableContent && many.error["code"] as? String == "too_many_items", "\(many.body.prefix(300))")
        #expect(try await h.send(.get, "/v1/banks/typed").json["entries"] as? Int == 0)
    }

    @Test func anotherNodeTakesABanksChangesOverAtItsNextSync() async throws {
        let store = try SQLiteStore()
        func node() async throws -> ScoringService {
            let service = ScoringService(store: store, engine: ScoringEngine(), model: try ActiveModel(model: Fixture.model, source: "fixture"))
            try await service.start()
            return service
        }
        let a = try await node(), b = try await node()
        _ = try await a.banks.save(Bank(name: "wave", label: "spam", action: .remove, createdBy: "t", createdAt: Date()), classes: ["clear", "spam"], clearLabel: "clear")
        let (_, added, _) = try #require(try await a.banks.add([NewBankEntry(signature: .image(ImageSignature(hash: PDQHash(hex: Self.bridge)!, quality: 90)))],
                                                            to: "wave", by: "t"))
        let item = ItemSubmission(id: "x", text: "a photo", media: [.image(ImageSignature(hash: PDQHash(hex: Self.near(Self.bridge, bits: 5))!, quality: 90))])
        var tokenizer = Tokenizer()
        #expect(a.banks.match(item, matchText: true, tokenizer: &tokenizer)?.entry == added[0].id)
        #expect(b.banks.match(item, matchText: true, tokenizer: &tokenizer) == nil)  // not synced yet
        try await b.banks.sync()
        #expect(b.banks.match(item, matchText: true, tokenizer: &tokenizer)?.entry == added[0].id)
        // A removal on A reaches B the same way; syncing twice applies nothing twice.
        _ = try await a.banks.remove(entries: [added[0].id], from: "wave")
        try await b.banks.sync()
        try await b.banks.sync()
        #expect(b.banks.match(item, matchText: true, tokenizer: &tokenizer) == nil && b.banks.entryCount == 0)
    }

    @Test func automaticBankingFollowsItsConfiguration() async throws {
        let h = try await harness { $0.engine.banks.automatic = false }
        #expect(try await h.post("/v1/items", json(["id": "w1", "text": "cheap watches shipped free order at the shop link now"])).status == .created)
        let claimed = try await h.post("/v1/review/claim", as: .moderator, "{}")
        let ticket = try #require(((claimed.json["tickets"] as? [[String: Any]])?.first?["ticket"] as? [String: Any])?["id"] as? Int)
        #expect(try await h.post("/v1/review/tickets/\(ticket)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"])).status == .ok)
        #expect((try await h.send(.get, "/v1/banks").json["banks"] as? [[String: Any]])?.isEmpty == true)
    }

    @Test func badMediaIsA4xxNamingTheItemAndTheProblemAndABatchStoresTheRest() async throws {
        let h = try await harness()
        func refused(_ media: [String: Any], _ field: String, _ words: String, code: String = "invalid_value") async throws {
            let answer = try await h.post("/v1/items", json(["id": "bad", "text": "a picture", "media": [media]]))
            #expect(answer.status == .unprocessableContent && answer.error["code"] as? String == code, "\(media): \(answer.body)")
            #expect(answer.error["field"] as? String == field, "\(answer.body)")
            #expect((answer.error["message"] as? String)?.contains(words) == true, "\(answer.body)")
        }
        try await refused(["type": "image", "data": Data("hello, I am text".utf8).base64EncodedString()], "media[0]", "JPEG, PNG or WebP")
        // Outside testing: characters outside base64's alphabet were skipped and the rest hashed. Line breaks are not.
        try await refused(["type": "image", "data": "iVBORw0K!!!*** ###GgoAAAANSUhEUg"], "media[0].data", "character 9 is outside the standard alphabet")
        try await refused(["type": "image", "data": Data("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8).base64EncodedString()], "media[0]", "JPEG, PNG or WebP")
        try await refused(["type": "image", "data": "!!!"], "media[0].data", "base64")
        try await refused(["type": "audio", "data": "AAAA"], "media[0].type", "image or video")
        try await refused(["type": "image", "pdq": "abc", "quality": 50], "media[0].pdq", "64 hex digits")
        try await refused(["type": "image", "pdq": Self.bridge], "media[0].quality", "quality")
        try await refused(["type": "video", "data": Data(repeating: 7, count: 4_000).base64EncodedString()], "media[0]", "video")
        // A PNG header declaring 100000 × 100000 pixels: too large, refused before decoding.
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
        png += [0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0, 8, 2, 0, 0, 0, 0, 0, 0, 0]
        try await refused(["type": "image", "data": Data(png).base64EncodedString()], "media[0]", "smaller", code: "too_large")
        let five = Array(repeating: ["type": "image", "pdq": Self.bridge, "quality": 90] as [String: Any], count: 5)
        let many = try await h.post("/v1/items", json(["id": "bad", "text": "pictures", "media": five]))
        #expect(many.status == .unprocessableContent && many.error["code"] as? String == "too_large" && many.error["field"] as? String == "media")
        #expect(try await h.send(.get, "/v1/items/bad", as: .feed).status == .notFound)

        // A batch with one bad image stores the rest.
        let batch = try await h.post("/v1/items:batch", json(["items": [
            ["id": "ok1", "text": "first"],
            ["id": "bad1", "text": "second", "media": [["type": "image", "data": Data("not an image at all".utf8).base64EncodedString()]]],
            ["id": "ok2", "text": "third", "media": [["type": "image", "pdq": Self.bridge, "quality": 90]]],
            // The values a batch item's schema leaves to the item's own check (openapi.yaml, BatchItemRequest).
            ["id": "bad2", "text": "fourth", "media": [["type": "image", "pdq": Self.bridge, "quality": 101]]],
            ["id": "bad3", "text": "fifth", "media": [["type": "audio", "pdq": Self.bridge, "quality": 90]]],
        ]]))
        #expect(batch.status == .ok, "\(batch.body)")
        #expect(batch.json["created"] as? Int == 2 && batch.json["failed"] as? Int == 3)
        let results = try #require(batch.json["results"] as? [[String: Any]])
        #expect(results[1]["status"] as? Int == 422 && (results[1]["error"] as? [String: Any])?["field"] as? String == "items[1].media[0]")
        #expect(results[3]["status"] as? Int == 422 && (results[3]["error"] as? [String: Any])?["field"] as? String == "items[3].media[0].quality")
        #expect(results[4]["status"] as? Int == 422 && (results[4]["error"] as? [String: Any])?["field"] as? String == "items[4].media[0].type")
        #expect(try await h.send(.get, "/v1/items/ok2", as: .feed).status == .ok)
    }

    @Test(.enabled(if: sharedMedia != nil, "../shared/media is absent: the test of real photos is skipped"))
    func realPhotosAreHashedAndTheirEditsMatch() async throws {
        let folder = try #require(Self.sharedMedia)
        let h = try await harness()
        let original = try Data(contentsOf: folder.appendingPathComponent("aaa-orig.jpg"))
        #expect(try await h.send(.post, "/v1/banks", body: json(["name": "bridges", "label": "spam", "action": "remove"])).status == .created)
        let added = try await h.send(.post, "/v1/banks/bridges/entries", body: json(["entries": [["type": "image", "data": original.base64EncodedString()]]]))
        #expect(added.status == .created, "\(added.body)")
        let value = try #require((added.json["entries"] as? [[String: Any]])?.first?["value"] as? String)
        #expect(PDQHash(hex: value)!.distance(to: PDQHash(hex: Self.bridge)!) <= 8)
        for (n, edit) in ["blur-a-little.jpg", "high-contrast.jpg"].enumerated() {
            let bytes = try Data(contentsOf: folder.appendingPathComponent(edit))
            // The second as MIME wraps base64 (76 characters a line): line breaks are skipped.
            let data = n == 0 ? bytes.base64EncodedString() : bytes.base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
            let answer = try await h.post("/v1/items", json(["id": "e\(n)", "text": "a photo", "media": [["type": "image", "data": data]]]))
            #expect((answer.json["match"] as? [String: Any])?["bank"] as? String == "bridges", "\(edit): \(answer.body)")
        }
        // Cut short: a 4xx naming the item's medium, and nothing stored.
        let cut = original.prefix(original.count / 3)
        let truncated = try await h.post("/v1/items", json(["id": "cut", "text": "a photo", "media": [["type": "image", "data": cut.base64EncodedString()]]]))
        #expect(truncated.status == .unprocessableContent && truncated.error["field"] as? String == "media[0]", "\(truncated.body)")
        #expect(try await h.send(.get, "/v1/items/cut", as: .feed).status == .notFound)
    }

    /// Outside testing: a banked photo posted again turned or mirrored matched nothing (its plain hash lies about 128
    /// bits away). An image sent as bytes is hashed in all eight orientations, and the match says which one it was.
    @Test(.enabled(if: sharedMedia != nil, "../shared/media is absent: the test of real photos is skipped"))
    func rotatedAndMirroredCopiesMatchInTheirOrientation() async throws {
        let folder = try #require(Self.sharedMedia).appendingPathComponent("../reg-test-input/dih")
        let h = try await harness()
        #expect(try await h.send(.post, "/v1/banks", body: json(["name": "bridges", "label": "spam", "action": "remove"])).status == .created)
        let original = try Data(contentsOf: folder.appendingPathComponent("bridge-1-original.jpg"))
        let added = try await h.send(.post, "/v1/banks/bridges/entries", body: json(["entries": [["type": "image", "data": original.base64EncodedString()]]]))
        let entry = try #require((added.json["entries"] as? [[String: Any]])?.first)
        let value = try #require(entry["value"] as? String)
        let plain = try #require(PDQHash(hex: value))
        let forms: [(String, String?, String)] = [
            ("bridge-1-original.jpg", nil, ""), ("bridge-2-rotate-90.jpg", "rotate90", " rotated 90°"),
            ("bridge-3-rotate-180.jpg", "rotate180", " rotated 180°"), ("bridge-4-rotate-270.jpg", "rotate270", " rotated 270°"),
            ("bridge-5-flipx.jpg", "flipX", " mirrored top to bottom"), ("bridge-6-flipy.jpg", "flipY", " mirrored left to right"),
            ("bridge-7-flip-plus-1.jpg", "flipPlus1", " mirrored across the diagonal"),
            ("bridge-8-flip-minus-1.jpg", "flipMinus1", " mirrored across the anti-diagonal"),
        ]
        for (n, (file, orientation, phrase)) in forms.enumerated() {
            let bytes = try Data(contentsOf: folder.appendingPathComponent(file))
            let answer = try await h.post("/v1/items", json(["id": "d\(n)", "text": "a photo", "media": [["type": "image", "data": bytes.base64EncodedString()]]]))
            #expect(answer.status == .created, "\(file): \(answer.body)")
            let match = try #require(answer.json["match"] as? [String: Any], "\(file) matched nothing: \(answer.body)")
            #expect(match["entry"] as? Int == entry["id"] as? Int && match["orientation"] as? String == orientation, "\(file): \(match)")
            let distance = try #require(match["distance"] as? Int)
            #expect(distance <= 8, "\(file): \(distance) bits")
            #expect((answer.json["decision"] as? [String: Any])?["reason"] as? String
                    == "matched bank bridges v2, entry \(entry["id"] as? Int ?? -1), image 0 distance \(distance)\(phrase)", "\(answer.body)")
            #expect((answer.json["decision"] as? [String: Any])?["action"] as? String == "remove")
        }
        // A hash the feed made itself is matched as it is: the mirrored photo's own hash (the reference's, from
        // expected-pdqhash.csv) is far from the entry.
        let reference = try String(contentsOf: folder.appendingPathComponent("../../expected-pdqhash.csv"), encoding: .utf8)
        let row = try #require(reference.split(separator: "\n").first { $0.hasPrefix("pdq/reg-test-input/dih/bridge-6-flipy.jpg,") })
        let ownHash = try #require(PDQHash(hex: row.split(separator: ",")[1]))
        #expect(ownHash.distance(to: plain) > PDQHash.matchDistance)
        let given = try await h.post("/v1/items", json(["id": "given", "text": "a photo", "media": [["type": "image", "pdq": ownHash.hex, "quality": 100]]]))
        #expect(given.status == .created && given.json["match"] == nil, "\(given.body)")
    }
}
