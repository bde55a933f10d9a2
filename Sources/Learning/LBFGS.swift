import CBLAS
import Dispatch
import Foundation

/// Limited-memory BFGS (Nocedal & Wright, "Numerical Optimization", algorithms 7.4–7.5) with a
/// backtracking Armijo line search, for smooth convex objectives.
///
/// The two-loop recursion runs on coefficients over the inner products of the kept correction pairs and the
/// gradient ("vector-free" L-BFGS, Chen, Wang & Zhou, NIPS 2014): each iteration makes one blocked pass that
/// forms the new pair and its inner products with every kept vector, and one that combines the kept vectors
/// into the search direction. The textbook recursion reads every kept vector twice and rewrites the direction
/// 2m times; for models with millions of parameters that memory traffic was as costly as the objective. The
/// pairs are kept in single precision (half the traffic); the slope of each direction is summed from the vectors
/// in double precision, so the line search sees the true slope. Both passes are split in two fixed halves on
/// two threads, so results do not depend on the machine's core count.
public struct LBFGS: Sendable {
    /// Number of correction pairs kept (m), 3…50. Default 10.
    public var memory: Int = 10
    /// Stop when the largest absolute gradient component is at most this. Default 1e-4.
    public var tolerance: Double = 1e-4
    /// Stop after this many iterations. Default 300.
    public var maxIterations: Int = 300

    public init(memory: Int = 10, tolerance: Double = 1e-4, maxIterations: Int = 300) {
        self.memory = memory
        self.tolerance = tolerance
        self.maxIterations = maxIterations
    }

    public struct Result: Sendable, Equatable {
        public var value: Double
        public var iterations: Int
        public var evaluations: Int
        /// Largest absolute gradient component at the end.
        public var gradientMaxNorm: Double
        public var converged: Bool
    }

    /// Minimises `objective` from `x` (updated in place). `objective(x, gradient)` returns f(x) and writes ∇f(x).
    public func minimize(
        _ x: inout [Double],
        progress: ((Int, Double, Double) -> Void)? = nil,
        objective: (UnsafeBufferPointer<Double>, UnsafeMutableBufferPointer<Double>) -> Double
    ) -> Result {
        let n = x.count
        let state = PairHistory(dimension: n, memory: max(1, memory))
        defer { state.deallocate() }
        _ = state.x.initialize(from: x)
        var evaluations = 0
        func evaluate(_ point: UnsafeMutableBufferPointer<Double>, _ grad: UnsafeMutableBufferPointer<Double>) -> Double {
            evaluations += 1
            return objective(UnsafeBufferPointer(point), grad)
        }

        var f = evaluate(state.x, state.g)
        var (gg, gmax) = state.gradientNorms()
        var iteration = 0
        while gmax > tolerance && iteration < maxIterations {
            iteration += 1
            // d = −H g from the kept pairs' inner products, then one pass over the vectors.
            var slope = state.direction()
            if slope >= 0 {  // not a descent direction: restart from steepest descent
                state.forget()
                slope = state.direction()
            }
            var step = state.pairCount == 0 ? min(1, 1 / max(gg.squareRoot(), 1e-12)) : 1
            // Backtracking line search with the Armijo condition.
            var fNew = 0.0
            var accepted = false
            for _ in 0..<40 {
                state.stepTo(step)
                fNew = evaluate(state.xNew, state.gNew)
                if fNew.isFinite && fNew <= f + 1e-4 * step * slope { accepted = true; break }
                step *= 0.5
            }
            guard accepted else { break }
            (gg, gmax) = state.accept()
            let previous = f
            f = fNew
            progress?(iteration, f, gmax)
            if abs(previous - f) <= 1e-15 * max(1, abs(f)) { break }
        }
        x = Array(state.x)
        return Result(value: f, iterations: iteration, evaluations: evaluations, gradientMaxNorm: gmax, converged: gmax <= tolerance)
    }
}

/// The optimiser's vectors and the inner products of its correction pairs.
///
/// Pairs live in `memory + 1` slots (one spare receives the newest pair before it is known to be kept);
/// `window` lists the kept slots from oldest to newest. `ss`, `sy`, `yy` hold s_a·s_b, s_a·y_b and y_a·y_b
/// by slot; `gs`, `gy` the current gradient's products with every slot; `gg` its squared norm.
private final class PairHistory: @unchecked Sendable {
    let n: Int
    let memory: Int
    let slots: Int
    var x, xNew, g, gNew, d: UnsafeMutableBufferPointer<Double>
    /// Correction pairs in single precision: they only shape the search direction, and half the bytes is
    /// half the memory traffic of the two passes. Their inner products are summed in double precision.
    let s: [UnsafeMutableBufferPointer<Float>]
    let y: [UnsafeMutableBufferPointer<Float>]
    var window: [Int] = []
    var spare = 0
    var ss, sy, yy: [Double]
    var gs, gy: [Double]
    var gg = 0.0
    /// Two parts (threads) for vectors of 65,536 entries or more, one for shorter ones.
    let parts: Int
    let blockSize = 2048

    init(dimension n: Int, memory: Int) {
        self.n = n
        self.memory = memory
        slots = memory + 1
        func vector() -> UnsafeMutableBufferPointer<Double> {
            let v = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(n, 1))
            v.initialize(repeating: 0)
            return v
        }
        x = vector(); xNew = vector(); g = vector(); gNew = vector(); d = vector()
        // Pair vectors are allocated uninitialised and written before they are read: a pair slot is first
        // written by `accept`, so untouched slots of a short run cost no memory.
        s = (0..<memory + 1).map { _ in .allocate(capacity: max(n, 1)) }
        y = (0..<memory + 1).map { _ in .allocate(capacity: max(n, 1)) }
        ss = [Double](repeating: 0, count: slots * slots)
        sy = ss
        yy = ss
        gs = [Double](repeating: 0, count: slots)
        gy = gs
        parts = n >= 1 << 16 ? 2 : 1
    }

    func deallocate() {
        for v in [x, xNew, g, gNew, d] { v.deallocate() }
        for v in s + y { v.deallocate() }
    }

    var pairCount: Int { window.count }

    func forget() { window.removeAll() }

    /// Runs `body(range, part)` over `parts` fixed halves of 0..<n, concurrently.
    private func split(_ body: @Sendable (Range<Int>, Int) -> Void) {
        let n = self.n, parts = self.parts
        TrainingThreads.perform(parts) { part in
            body((n * part / parts)..<(n * (part + 1) / parts), part)
        }
    }

    /// ‖g‖² and max |g_i| of the current gradient (the first one; later ones come from `accept`).
    func gradientNorms() -> (Double, Double) {
        guard n > 0 else { return (0, 0) }
        gg = cblas_ddot(Int32(n), g.baseAddress, 1, g.baseAddress, 1)
        return (gg, abs(g[Int(cblas_idamax(Int32(n), g.baseAddress, 1))]))
    }

    /// Writes d = −H g into `d` and returns the slope g·d.
    func direction() -> Double {
        let h = window.count
        var ds = [Double](repeating: 0, count: h)  // coefficient of s_window[i]
        var dy = [Double](repeating: 0, count: h)  // coefficient of y_window[i]
        var dg = -1.0  // coefficient of g
        if h > 0 {
            let w = window, k = slots
            var alpha = [Double](repeating: 0, count: h)
            for i in stride(from: h - 1, through: 0, by: -1) {
                let a = w[i]
                var sp = dg * gs[a]
                for j in 0..<h {
                    sp += ds[j] * ss[w[j] * k + a] + dy[j] * sy[a * k + w[j]]
                }
                alpha[i] = sp / sy[a * k + a]
                dy[i] -= alpha[i]
            }
            let last = w[h - 1]
            let gamma = sy[last * k + last] / yy[last * k + last]
            for j in 0..<h { ds[j] *= gamma; dy[j] *= gamma }
            dg *= gamma
            for i in 0..<h {
                let a = w[i]
                var yp = dg * gy[a]
                for j in 0..<h {
                    yp += ds[j] * sy[w[j] * k + a] + dy[j] * yy[w[j] * k + a]
                }
                ds[i] += alpha[i] - yp / sy[a * k + a]
            }
        }
        // d = dg·g + Σ ds_j s_j + Σ dy_j y_j, a block at a time, with the slope g·d summed from the vectors
        // themselves (not from the inner products, where cancellation could hide an ascent direction).
        let vectors = Vectors(self)
        let block = blockSize
        let slotsUsed = window
        let (cs, cy, cg) = (ds, dy, dg)
        let slopes = (0..<parts).map { _ in Unchecked(0.0) }
        split { range, part in
            var slope = 0.0
            var lo = range.lowerBound
            while lo < range.upperBound {
                let hi = min(lo + block, range.upperBound)
                let dp = vectors.d.baseAddress!, gp = vectors.g.baseAddress!
                for q in lo..<hi { dp[q] = cg * gp[q] }
                for (j, a) in slotsUsed.enumerated() {
                    let sa = vectors.s[a].baseAddress!, ya = vectors.y[a].baseAddress!
                    let u = cs[j], v = cy[j]
                    for q in lo..<hi { dp[q] += u * Double(sa[q]) + v * Double(ya[q]) }
                }
                for q in lo..<hi { slope += gp[q] * dp[q] }
                lo = hi
            }
            slopes[part].value = slope
        }
        return slopes.reduce(0) { $0 + $1.value }
    }

    /// xNew = x + step·d.
    func stepTo(_ step: Double) {
        let vectors = Vectors(self)
        split { range, _ in
            for q in range { vectors.xNew[q] = vectors.x[q] + step * vectors.d[q] }
        }
    }

    /// Accepts xNew and gNew: forms the pair s = xNew − x, y = gNew − g in the spare slot, computes its inner
    /// products and the new gradient's with every kept slot, keeps the pair if its curvature is positive, and
    /// returns ‖g‖² and max |g_i| of the new gradient.
    func accept() -> (Double, Double) {
        let kept = window
        let targets = kept + [spare]
        let t = targets.count
        // Per part: [sNew·s_a, sNew·y_a, yNew·s_a, yNew·y_a, gNew·s_a, gNew·y_a] for each target a, then gNew·gNew and max |gNew|.
        // For a kept slot, yNew·s_a = gNew·s_a − g·s_a and yNew·y_a = gNew·y_a − g·y_a from the products kept
        // with the previous gradient: four sums a slot instead of six (this pass is bound by arithmetic).
        let width = 6 * t + 2
        let partials = UnsafeMutableBufferPointer<Double>.allocate(capacity: width * parts)
        partials.initialize(repeating: 0)
        defer { partials.deallocate() }
        let vectors = Vectors(self)
        let gradientBlocks = UnsafeMutableBufferPointer<Float>.allocate(capacity: blockSize * parts)
        defer { gradientBlocks.deallocate() }
        let shared = Vectors.Extra(partials: partials, sNew: s[spare], yNew: y[spare], gradientBlocks: gradientBlocks)
        let block = blockSize
        split { range, part in
            let sNew = shared.sNew, yNew = shared.yNew
            let out = shared.partials.baseAddress! + part * width
            var lo = range.lowerBound
            while lo < range.upperBound {
                let hi = min(lo + block, range.upperBound)
                var largest = out[6 * t + 1]
                for q in lo..<hi {
                    sNew[q] = Float(vectors.xNew[q] - vectors.x[q])
                    yNew[q] = Float(vectors.gNew[q] - vectors.g[q])
                    largest = max(largest, abs(vectors.gNew[q]))
                }
                out[6 * t + 1] = largest
                let sp = sNew.baseAddress! + lo, yp = yNew.baseAddress! + lo, gp = vectors.gNew.baseAddress! + lo
                let gf = shared.gradientBlocks.baseAddress! + part * block
                for q in 0..<(hi - lo) { gf[q] = Float(gp[q]) }
                for (i, a) in targets.enumerated() {
                    let sa = vectors.s[a].baseAddress! + lo, ya = vectors.y[a].baseAddress! + lo
                    if i < t - 1 {
                        let dots = fourDots(sp, gf, sa, ya, count: hi - lo)
                        out[6 * i] += dots[0]; out[6 * i + 1] += dots[1]
                        out[6 * i + 4] += dots[2]; out[6 * i + 5] += dots[3]
                    } else {
                        let dots = sixDots(sp, yp, gp, sa, ya, count: hi - lo)
                        for r in 0..<6 { out[6 * i + r] += dots[r] }
                    }
                }
                out[6 * t] += cblas_ddot(Int32(hi - lo), gp, 1, gp, 1)
                lo = hi
            }
        }
        var sums = [Double](repeating: 0, count: width)
        for part in 0..<parts {
            for q in 0..<width {
                sums[q] = q == width - 1 ? max(sums[q], partials[part * width + q]) : sums[q] + partials[part * width + q]
            }
        }
        let k = slots, b = spare
        for (i, a) in targets.enumerated() where i < t - 1 {
            sums[6 * i + 2] = sums[6 * i + 4] - gs[a]
            sums[6 * i + 3] = sums[6 * i + 5] - gy[a]
        }
        for (i, a) in targets.enumerated() {
            ss[b * k + a] = sums[6 * i]; ss[a * k + b] = sums[6 * i]
            sy[b * k + a] = sums[6 * i + 1]  // s_new · y_a
            sy[a * k + b] = sums[6 * i + 2]  // s_a · y_new
            yy[b * k + a] = sums[6 * i + 3]; yy[a * k + b] = sums[6 * i + 3]
            gs[a] = sums[6 * i + 4]
            gy[a] = sums[6 * i + 5]
        }
        gg = sums[6 * t]
        let curvature = sy[b * k + b]
        if curvature > 1e-12 * yy[b * k + b] {
            if window.count == memory {
                let oldest = window.removeFirst()
                window.append(b)
                spare = oldest
            } else {
                window.append(b)
                spare = (0..<slots).first { !window.contains($0) }!
            }
        }
        swap(&x, &xNew)
        swap(&g, &gNew)
        return (gg, sums[width - 1])
    }

    /// [s·a, s·b, y·a, y·b, g·a, g·b] over `count` entries, four at a time: one read of the five vectors.
    @inline(__always)
    private func sixDots(
        _ s: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Double>,
        _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, count: Int
    ) -> SIMD8<Double> {
        typealias V = SIMD4<Double>
        @inline(__always) func load(_ p: UnsafeMutablePointer<Double>, _ q: Int) -> V {
            UnsafeRawPointer(p + q).loadUnaligned(as: V.self)
        }
        @inline(__always) func load(_ p: UnsafeMutablePointer<Float>, _ q: Int) -> V {
            let f = UnsafeRawPointer(p + q).loadUnaligned(as: SIMD4<Float>.self)
            return V(Double(f[0]), Double(f[1]), Double(f[2]), Double(f[3]))
        }
        var sa = V(), sb = V(), ya = V(), yb = V(), ga = V(), gb = V()
        var q = 0
        while q + 4 <= count {
            let sv = load(s, q), yv = load(y, q), gv = load(g, q), av = load(a, q), bv = load(b, q)
            // Multiply, then add: `addProduct` is a fused multiply-add, a library call on baseline x86-64.
            sa += sv * av; sb += sv * bv
            ya += yv * av; yb += yv * bv
            ga += gv * av; gb += gv * bv
            q += 4
        }
        var out = SIMD8<Double>(sa.sum(), sb.sum(), ya.sum(), yb.sum(), ga.sum(), gb.sum(), 0, 0)
        while q < count {
            let sq = Double(s[q]), yq = Double(y[q]), aq = Double(a[q]), bq = Double(b[q])
            out[0] += sq * aq; out[1] += sq * bq
            out[2] += yq * aq; out[3] += yq * bq
            out[4] += g[q] * aq; out[5] += g[q] * bq
            q += 1
        }
        return out
    }

    /// [s·a, s·b, g·a, g·b] over one block (at most `blockSize` entries), eight at a time in single precision;
    /// the block's sums are then added up in double precision. Single precision doubles the arithmetic per
    /// instruction in this, the optimiser's costliest loop; the error of a block's sum (about 1e-6 relative)
    /// only perturbs the search direction, whose slope is summed exactly and checked by the line search.
    @inline(__always)
    private func fourDots(
        _ s: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
        _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, count: Int
    ) -> SIMD4<Double> {
        typealias V = SIMD8<Float>
        @inline(__always) func load(_ p: UnsafeMutablePointer<Float>, _ q: Int) -> V {
            UnsafeRawPointer(p + q).loadUnaligned(as: V.self)
        }
        var sa = V(), sb = V(), ga = V(), gb = V()
        var q = 0
        while q + 8 <= count {
            let sv = load(s, q), av = load(a, q), bv = load(b, q), gv = load(g, q)
            sa += sv * av; sb += sv * bv
            ga += gv * av; gb += gv * bv
            q += 8
        }
        var out = SIMD4<Double>(Double(sa.sum()), Double(sb.sum()), Double(ga.sum()), Double(gb.sum()))
        while q < count {
            let sq = Double(s[q]), aq = Double(a[q]), bq = Double(b[q]), gq = Double(g[q])
            out[0] += sq * aq; out[1] += sq * bq
            out[2] += gq * aq; out[3] += gq * bq
            q += 1
        }
        return out
    }

    /// The vectors' base pointers, shared with the worker threads (each writes only its own range).
    struct Vectors: @unchecked Sendable {
        let x, xNew, g, gNew, d: UnsafeMutableBufferPointer<Double>
        let s, y: [UnsafeMutableBufferPointer<Float>]
        struct Extra: @unchecked Sendable {
            let partials: UnsafeMutableBufferPointer<Double>
            let sNew, yNew: UnsafeMutableBufferPointer<Float>
            let gradientBlocks: UnsafeMutableBufferPointer<Float>
        }
        init(_ h: PairHistory) {
            x = h.x; xNew = h.xNew; g = h.g; gNew = h.gNew; d = h.d; s = h.s; y = h.y
        }
    }
}
