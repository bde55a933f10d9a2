import CBLAS
import Foundation

/// Limited-memory BFGS (Nocedal & Wright, "Numerical Optimization", algorithms 7.4–7.5) with a
/// backtracking Armijo line search, for smooth convex objectives. Vector arithmetic goes through CBLAS.
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
        let n32 = Int32(n)
        var g = [Double](repeating: 0, count: n)
        var xNew = [Double](repeating: 0, count: n)
        var gNew = [Double](repeating: 0, count: n)
        var d = [Double](repeating: 0, count: n)
        var sHistory: [[Double]] = []
        var yHistory: [[Double]] = []
        var rho: [Double] = []
        var alphaScratch = [Double](repeating: 0, count: memory)
        var evaluations = 0

        func evaluate(_ point: [Double], _ grad: inout [Double]) -> Double {
            evaluations += 1
            return point.withUnsafeBufferPointer { p in grad.withUnsafeMutableBufferPointer { objective(p, $0) } }
        }
        func maxAbs(_ v: [Double]) -> Double {
            guard n > 0 else { return 0 }
            let i = Int(cblas_idamax(n32, v, 1))
            return abs(v[i])
        }

        var f = evaluate(x, &g)
        var gmax = maxAbs(g)
        var iteration = 0
        while gmax > tolerance && iteration < maxIterations {
            iteration += 1
            // d = -H g by the two-loop recursion.
            cblas_dcopy(n32, g, 1, &d, 1)
            let h = sHistory.count
            if h > 0 {
                for i in stride(from: h - 1, through: 0, by: -1) {
                    let a = rho[i] * cblas_ddot(n32, sHistory[i], 1, d, 1)
                    alphaScratch[i] = a
                    cblas_daxpy(n32, -a, yHistory[i], 1, &d, 1)
                }
                let sy = cblas_ddot(n32, sHistory[h - 1], 1, yHistory[h - 1], 1)
                let yy = cblas_ddot(n32, yHistory[h - 1], 1, yHistory[h - 1], 1)
                cblas_dscal(n32, sy / yy, &d, 1)
                for i in 0..<h {
                    let b = rho[i] * cblas_ddot(n32, yHistory[i], 1, d, 1)
                    cblas_daxpy(n32, alphaScratch[i] - b, sHistory[i], 1, &d, 1)
                }
            }
            cblas_dscal(n32, -1, &d, 1)
            var slope = cblas_ddot(n32, g, 1, d, 1)
            if slope >= 0 {  // not a descent direction: restart from steepest descent
                sHistory.removeAll(); yHistory.removeAll(); rho.removeAll()
                cblas_dcopy(n32, g, 1, &d, 1)
                cblas_dscal(n32, -1, &d, 1)
                slope = cblas_ddot(n32, g, 1, d, 1)
            }
            var step = sHistory.isEmpty ? min(1, 1 / max(cblas_dnrm2(n32, g, 1), 1e-12)) : 1
            // Backtracking line search with the Armijo condition.
            var fNew = 0.0
            var accepted = false
            for _ in 0..<40 {
                cblas_dcopy(n32, x, 1, &xNew, 1)
                cblas_daxpy(n32, step, d, 1, &xNew, 1)
                fNew = evaluate(xNew, &gNew)
                if fNew.isFinite && fNew <= f + 1e-4 * step * slope { accepted = true; break }
                step *= 0.5
            }
            guard accepted else { break }
            // Correction pair s = x_new - x, y = g_new - g.
            var s = xNew
            cblas_daxpy(n32, -1, x, 1, &s, 1)
            var y = gNew
            cblas_daxpy(n32, -1, g, 1, &y, 1)
            let sy = cblas_ddot(n32, s, 1, y, 1)
            if sy > 1e-12 * cblas_ddot(n32, y, 1, y, 1) {
                if sHistory.count == memory { sHistory.removeFirst(); yHistory.removeFirst(); rho.removeFirst() }
                sHistory.append(s); yHistory.append(y); rho.append(1 / sy)
            }
            swap(&x, &xNew)
            swap(&g, &gNew)
            let previous = f
            f = fNew
            gmax = maxAbs(g)
            progress?(iteration, f, gmax)
            if abs(previous - f) <= 1e-15 * max(1, abs(f)) { break }
        }
        return Result(value: f, iterations: iteration, evaluations: evaluations, gradientMaxNorm: gmax, converged: gmax <= tolerance)
    }
}
