import Engine
import Foundation
import WinnowJSON

/// The item bodies' fast path: `JSONDecoder` cost a sixth of the server's time under batches, so item submissions
/// are read by WinnowJSON's `JSONScanner` (`ScannedItem`) and only what it gives up on goes to the strict decoder.
extension API.ItemRequest: ScannableJSON {
    static func scan(_ bytes: UnsafeRawBufferPointer) -> API.ItemRequest? {
        ScannedItem.scan(bytes).map(API.ItemRequest.init(scanned:))
    }

    /// The request from what the fast reader read (its time is read by `submission`, as the strict decoder's is).
    init(scanned item: ScannedItem) {
        self.init(id: item.id, feed: item.feed, text: item.text, language: item.language,
                  author: item.author.map { Author(id: $0.id, accountAgeDays: $0.accountAgeDays, followers: $0.followers, priorRemovals: $0.priorRemovals) },
                  createdAt: item.createdAt, media: nil)
    }
}

extension API.BatchRequest: ScannableJSON {
    static func scan(_ bytes: UnsafeRawBufferPointer) -> API.BatchRequest? {
        guard let batch = ScannedBatch.scan(bytes) else { return nil }
        var items: [API.ItemRequest] = []
        items.reserveCapacity(batch.items.count)
        for scanned in batch.items { items.append(API.ItemRequest(scanned: scanned)) }
        return API.BatchRequest(items: items)
    }
}
