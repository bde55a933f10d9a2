import Engine
import Foundation
import WinnowJSON

/// The item bodies' fast path: `JSONDecoder` cost a sixth of the server's time under batches, so item submissions
/// are read by WinnowJSON's `JSONScanner` (`ScannedItem`) and only what it gives up on goes to the strict decoder.
extension API.ItemRequest: ScannableJSON {
    static func scan(_ bytes: UnsafeRawBufferPointer) -> API.ItemRequest? {
        ScannedItem.scan(bytes).flatMap(API.ItemRequest.init(scanned:))
    }

    /// The request from what the fast reader read; nil when its time is not one (the strict decoder then names it).
    init?(scanned item: ScannedItem) {
        var createdAt: Date?
        if let text = item.createdAt {
            guard let date = ISOTime.parse(text) else { return nil }
            createdAt = date
        }
        self.init(id: item.id, feed: item.feed, text: item.text, language: item.language,
                  author: item.author.map { Author(id: $0.id, accountAgeDays: $0.accountAgeDays, followers: $0.followers, priorRemovals: $0.priorRemovals) },
                  createdAt: createdAt, media: nil)
    }
}

extension API.BatchRequest: ScannableJSON {
    static func scan(_ bytes: UnsafeRawBufferPointer) -> API.BatchRequest? {
        guard let batch = ScannedBatch.scan(bytes) else { return nil }
        var items: [API.ItemRequest] = []
        items.reserveCapacity(batch.items.count)
        for scanned in batch.items {
            guard let item = API.ItemRequest(scanned: scanned) else { return nil }
            items.append(item)
        }
        return API.BatchRequest(items: items)
    }
}
