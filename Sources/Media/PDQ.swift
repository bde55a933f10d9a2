import Engine
import Foundation

/// The PDQ image hash (Meta's, 2017), computed as the reference C++ does, step by step, so that hashes agree with
/// hash lists made by `pdq-photo-hasher` and the `pdqhash` Python package to within the few bits a different JPEG
/// decoder moves them:
///
/// 1. luminance Y = 0.299 R + 0.587 G + 0.114 B, as 32-bit floats;
/// 2. two passes of Jarosz box filters along rows then columns, each window about 1/128 of the side, which makes a
///    tent filter as wide as one cell of a 64x64 grid;
/// 3. the 64x64 grid's centre samples;
/// 4. quality from the grid's gradients;
/// 5. the 2-D DCT's coefficients 1-16 in each direction (the DC term left out);
/// 6. one bit per coefficient: above the median of the 256 or not.
///
/// Keeps its work buffers between calls (a video hashes hundreds of frames of one size), so one value per thread.
public struct PDQHasher: Sendable {
    private var luma: [Float] = []
    private var scratch: [Float] = []
    private var columnSums: [Float] = []

    /// The images the reference refuses to hash (either side under 5 pixels) get the zero hash and quality 0.
    public static let minimumSide = 5

    public init() {}

    /// The hash of packed or strided 8-bit RGB pixels (`rowStride` bytes from one row to the next).
    public mutating func signature(rgb: UnsafeRawBufferPointer, width: Int, height: Int, rowStride: Int) -> ImageSignature {
        guard let grid = downsample(rgb: rgb, width: width, height: height, rowStride: rowStride) else {
            return ImageSignature(hash: .zero, quality: 0)
        }
        let coefficients = Self.dct(grid)
        return ImageSignature(hash: Self.bits(coefficients), quality: Self.quality(grid))
    }

    /// The hashes of the image in all eight orientations (`Dihedral`, in its order), from one transform: a rotated or
    /// mirrored copy of an image matches one of these, though its plain hash lies about 128 bits away.
    public mutating func dihedralSignatures(rgb: UnsafeRawBufferPointer, width: Int, height: Int, rowStride: Int) -> ImageSignature {
        guard let grid = downsample(rgb: rgb, width: width, height: height, rowStride: rowStride) else {
            return ImageSignature(hash: .zero, quality: 0, orientations: Array(repeating: .zero, count: 7))
        }
        let coefficients = Self.dct(grid)
        let hashes = Dihedral.allCases.map { Self.bits(Self.transform(coefficients, $0)) }
        return ImageSignature(hash: hashes[0], quality: Self.quality(grid), orientations: Array(hashes.dropFirst()))
    }

    // MARK: - Steps

    /// Steps 1-3: the 64x64 grid of luminance, or nil for an image too small to hash.
    private mutating func downsample(rgb: UnsafeRawBufferPointer, width: Int, height: Int, rowStride: Int) -> [Float]? {
        guard width >= Self.minimumSide, height >= Self.minimumSide, rowStride >= width * 3,
              rgb.count >= rowStride * (height - 1) + width * 3 else { return nil }
        let count = width * height
        if luma.count < count {
            luma = [Float](repeating: 0, count: count)
            scratch = [Float](repeating: 0, count: count)
        }
        if columnSums.count < width { columnSums = [Float](repeating: 0, count: width) }
        luma.withUnsafeMutableBufferPointer { luma in
            for y in 0..<height {
                let row = rgb.baseAddress!.advanced(by: y * rowStride).assumingMemoryBound(to: UInt8.self)
                let out = luma.baseAddress! + y * width
                for x in 0..<width {
                    // In doubles, then rounded once: what numpy does in the `pdqhash` binding.
                    out[x] = Float(0.299 * Double(row[3 * x]) + 0.587 * Double(row[3 * x + 1]) + 0.114 * Double(row[3 * x + 2]))
                }
            }
        }
        let rowWindow = Self.windowSize(width), columnWindow = Self.windowSize(height)
        luma.withUnsafeMutableBufferPointer { a in
            scratch.withUnsafeMutableBufferPointer { b in
                columnSums.withUnsafeMutableBufferPointer { sums in
                    for _ in 0..<2 {
                        for y in 0..<height {
                            Self.boxFilter(a.baseAddress! + y * width, b.baseAddress! + y * width, length: width, window: rowWindow)
                        }
                        Self.boxFilterColumns(b.baseAddress!, a.baseAddress!, width: width, height: height, window: columnWindow, sums: sums.baseAddress!)
                    }
                }
            }
        }
        var grid = [Float](repeating: 0, count: 64 * 64)
        for i in 0..<64 {
            let y = Int((Double(i) + 0.5) * Double(height) / 64)
            for j in 0..<64 {
                let x = Int((Double(j) + 0.5) * Double(width) / 64)
                grid[i * 64 + j] = luma[y * width + x]
            }
        }
        return grid
    }

    /// Half a grid cell: two passes of this window make a tent as wide as one cell (rounded up).
    static func windowSize(_ side: Int) -> Int { (side + 2 * 64 - 1) / (2 * 64) }

    /// One box filter along a line: each output is the mean of the `window` inputs around it, fewer at the ends (the
    /// window is cut, not padded). The sums run in the reference's order so results agree to the last bit.
    @inline(__always)
    static func boxFilter(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>, length: Int, window: Int) {
        let half = (window + 2) / 2
        var sum: Float = 0
        var size: Float = 0
        var right = 0, left = 0, out = 0
        for _ in 0..<(half - 1) {
            sum += input[right]; size += 1; right += 1
        }
        for _ in 0..<(window - half + 1) {
            sum += input[right]; size += 1; right += 1
            output[out] = sum / size; out += 1
        }
        for _ in 0..<max(0, length - window) {
            sum += input[right]; sum -= input[left]
            output[out] = sum / size
            right += 1; left += 1; out += 1
        }
        for _ in 0..<(half - 1) {
            sum -= input[left]; size -= 1; left += 1
            output[out] = sum / size; out += 1
        }
    }

    /// The same filter down every column at once, a row at a time (memory order), with one running sum per column:
    /// each column sees the same operations in the same order as `boxFilter` would give it.
    static func boxFilterColumns(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>, width: Int, height: Int,
                                 window: Int, sums: UnsafeMutablePointer<Float>) {
        let half = (window + 2) / 2
        sums.update(repeating: 0, count: width)
        var size: Float = 0
        var right = 0, left = 0, out = 0
        for _ in 0..<(half - 1) {
            let r = input + right * width
            for x in 0..<width { sums[x] += r[x] }
            size += 1; right += 1
        }
        for _ in 0..<(window - half + 1) {
            let r = input + right * width, o = output + out * width
            size += 1
            for x in 0..<width { sums[x] += r[x]; o[x] = sums[x] / size }
            right += 1; out += 1
        }
        for _ in 0..<max(0, height - window) {
            let r = input + right * width, l = input + left * width, o = output + out * width
            for x in 0..<width {
                var s = sums[x] + r[x]
                s -= l[x]
                sums[x] = s
                o[x] = s / size
            }
            right += 1; left += 1; out += 1
        }
        for _ in 0..<(half - 1) {
            let l = input + left * width, o = output + out * width
            size -= 1
            for x in 0..<width { sums[x] -= l[x]; o[x] = sums[x] / size }
            left += 1; out += 1
        }
    }

    /// Step 4: the sum of the grid's quantised vertical and horizontal differences, scaled to 0-100. Flat or nearly
    /// flat images score low; their bits are mostly noise.
    static func quality(_ grid: [Float]) -> Int {
        var sum = 0
        for i in 0..<63 {
            for j in 0..<64 {
                sum += abs(Int((grid[i * 64 + j] - grid[(i + 1) * 64 + j]) * 100 / 255))
            }
        }
        for i in 0..<64 {
            for j in 0..<63 {
                sum += abs(Int((grid[i * 64 + j] - grid[i * 64 + j + 1]) * 100 / 255))
            }
        }
        return min(100, sum / 90)
    }

    /// Rows 1-16 of the 64-point DCT-II matrix (row-major, 16x64), scaled as the reference scales it.
    static let dctMatrix: [Float] = {
        let scale = Float((2.0 / 64.0).squareRoot())
        var matrix = [Float](repeating: 0, count: 16 * 64)
        for i in 0..<16 {
            for j in 0..<64 {
                matrix[i * 64 + j] = Float(Double(scale) * cos(Double.pi / 2 / 64 * Double(i + 1) * Double(2 * j + 1)))
            }
        }
        return matrix
    }()

    /// Step 5: B = D A Dᵀ, 16x16, row-major.
    static func dct(_ grid: [Float]) -> [Float] {
        let d = dctMatrix
        var t = [Float](repeating: 0, count: 16 * 64)
        for i in 0..<16 {
            for j in 0..<64 {
                var sum: Float = 0
                for k in 0..<64 { sum += d[i * 64 + k] * grid[k * 64 + j] }
                t[i * 64 + j] = sum
            }
        }
        var b = [Float](repeating: 0, count: 16 * 16)
        for i in 0..<16 {
            for j in 0..<16 {
                var sum: Float = 0
                for k in 0..<64 { sum += t[i * 64 + k] * d[j * 64 + k] }
                b[i * 16 + j] = sum
            }
        }
        return b
    }

    /// Step 6: bit i*16+j is set when coefficient (i, j) is above the median (the 128th smallest, as the reference's
    /// Torben median picks for 256 values), so about half the bits are set.
    static func bits(_ coefficients: [Float]) -> PDQHash {
        let median = coefficients.sorted()[127]
        return PDQHash(bits: { coefficients[$0] > median })
    }

    /// The DCT of the rotated or mirrored image, from the original's: cosines of odd order change sign when the axis
    /// is reversed, and a quarter turn or a diagonal mirror swaps the axes.
    static func transform(_ a: [Float], _ form: Dihedral) -> [Float] {
        var b = [Float](repeating: 0, count: 256)
        for i in 0..<16 {
            for j in 0..<16 {
                let value = a[i * 16 + j]
                switch form {
                case .original: b[i * 16 + j] = value
                case .rotate90: b[j * 16 + i] = j & 1 == 1 ? value : -value
                case .rotate180: b[i * 16 + j] = (i + j) & 1 == 1 ? -value : value
                case .rotate270: b[j * 16 + i] = i & 1 == 1 ? value : -value
                case .flipX: b[i * 16 + j] = i & 1 == 1 ? value : -value
                case .flipY: b[i * 16 + j] = j & 1 == 1 ? value : -value
                case .flipPlus1: b[j * 16 + i] = value
                case .flipMinus1: b[j * 16 + i] = (i + j) & 1 == 1 ? -value : value
                }
            }
        }
        return b
    }
}
