import Foundation
import Testing

@testable import Engine

@Suite struct TicketPriorityTests {
    @Test(arguments: [(0.5, 1.0), (0.9, 0.2), (0.1, 0.2), (0.0, 0.0), (1.0, 0.0), (0.75, 0.5)])
    func uncertaintyPeaksAtHalf(_ p: Double, _ expected: Double) {
        #expect(abs(TicketPriority.uncertainty(p) - expected) < 1e-12)
    }

    @Test func reachGrowsWithTheLogOfViews() {
        #expect(TicketPriority.reach(expectedViews: 0) == 1)
        #expect(abs(TicketPriority.reach(expectedViews: 90) - 2) < 1e-12)
        #expect(abs(TicketPriority.reach(expectedViews: 990) - 3) < 1e-12)
    }

    @Test(arguments: [(0.0, 1.0), (30.0, 1.75), (60.0, 4.0), (61.0, 5.0), (130.0, 6.0)])
    func urgencyClimbsToFourAtTheDueTimeThenOnePerOverduePeriod(_ waited: Double, _ expected: Double) {
        #expect(abs(TicketPriority.urgency(waitedMinutes: waited, slaMinutes: 60) - expected) < 1e-12)
    }

    @Test func priorityMultipliesTheFactors() {
        // 1 × 2 × 2 × 1.75
        #expect(abs(TicketPriority.score(pHarm: 0.5, expectedViews: 90, severity: 2, waitedMinutes: 30, slaMinutes: 60) - 7) < 1e-12)
        // A certain, unseen, fresh item keeps the uncertainty floor: 0.05 × 1 × 1 × 1.
        #expect(abs(TicketPriority.score(pHarm: 1, expectedViews: 0, severity: 1, waitedMinutes: 0, slaMinutes: 60) - 0.05) < 1e-12)
        // Near its due time a ticket passes a fresh one of three times its base priority.
        let old = TicketPriority.score(pHarm: 0.5, expectedViews: 0, severity: 1, waitedMinutes: 59, slaMinutes: 60)
        let fresh = TicketPriority.score(pHarm: 0.5, expectedViews: 0, severity: 3, waitedMinutes: 0, slaMinutes: 60)
        #expect(old > fresh)
    }

    @Test func theShortestSLAAmongTheReasonsApplies() {
        let configuration = ReviewConfiguration()
        #expect(configuration.sla(for: [.viral, .reviewBand]) == 15)
        #expect(configuration.sla(for: [.reviewBand]) == 240)
        #expect(configuration.sla(for: [.audit]) == 1_440)
        #expect(configuration.sla(for: []) == 240)
    }
}

@Suite struct ReporterWeightTests {
    @Test(arguments: [(0, 0, 1.0), (3, 0, 1.6), (0, 3, 0.4), (9, 1, 2.0 * 10 / 12)])
    func trackRecordWeighsReports(upheld: Int, rejected: Int, expected: Double) {
        #expect(abs(ReporterWeight.weight(upheld: upheld, rejected: rejected) - expected) < 1e-12)
    }

    @Test func aClearedItemNeedsAHigherBarToReopen() {
        #expect(ReporterWeight.opensTicket(weightedReports: 3, clearedByPerson: false))
        #expect(!ReporterWeight.opensTicket(weightedReports: 2.9, clearedByPerson: false))
        #expect(!ReporterWeight.opensTicket(weightedReports: 5, clearedByPerson: true))
        #expect(ReporterWeight.opensTicket(weightedReports: 9, clearedByPerson: true))
    }
}

@Suite struct LeaseTests {
    @Test func anExpiredLeaseNoLongerHoldsTheTicket() {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let lease = Lease(holder: "ana", until: t0.addingTimeInterval(300))
        #expect(lease.isLive(at: t0.addingTimeInterval(299)))
        #expect(!lease.isLive(at: t0.addingTimeInterval(300)))
        #expect(lease.allows("ana", at: t0))
        #expect(!lease.allows("ben", at: t0))
        #expect(!lease.allows("ana", at: t0.addingTimeInterval(301)))
    }
}
