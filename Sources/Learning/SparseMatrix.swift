/// A sparse row vector: sorted, unique column indices with their values.
public struct SparseVector: Equatable, Sendable {
    public var indices: [Int32]
    public var values: [Float]

    public init(indices: [Int32], values: [Float]) {
        precondition(indices.count == values.count, "indices and values must have the same length")
        self.indices = indices
        self.values = values
    }

    /// Builds a vector from unsorted indices with repeats, each occurrence adding `value`.
    public init(unsortedIndices: [Int32], value: Float) {
        self.init(unsortedIndices: unsortedIndices, values: [Float](repeating: value, count: unsortedIndices.count))
    }

    /// Builds a vector from unsorted (index, value) pairs; values at the same index are summed.
    public init(unsortedIndices: [Int32], values: [Float]) {
        precondition(unsortedIndices.count == values.count, "indices and values must have the same length")
        // Sort (index, position) packed in one integer (the sign bit flipped keeps signed order): a plain integer
        // sort, no comparison closure.
        var order = unsortedIndices.enumerated().map { UInt64(UInt32(bitPattern: $1) ^ 0x8000_0000) << 32 | UInt64($0) }
        order.sort()
        var idx: [Int32] = []
        var val: [Float] = []
        idx.reserveCapacity(order.count)
        val.reserveCapacity(order.count)
        for key in order {
            let index = Int32(bitPattern: UInt32(truncatingIfNeeded: key >> 32) ^ 0x8000_0000)
            let value = values[Int(key & 0xFFFF_FFFF)]
            if let last = idx.last, last == index {
                val[val.count - 1] += value
            } else {
                idx.append(index)
                val.append(value)
            }
        }
        self.indices = idx
        self.values = val
    }

    public var nonZeroCount: Int { indices.count }
}

/// A compressed sparse row (CSR) matrix: the training data of the estimators.
///
/// Row `i` holds columns `indices[rowStart[i]..<rowStart[i + 1]]` with `values` at the same positions.
/// Columns within a row are sorted and unique.
public struct SparseMatrix: Sendable {
    public private(set) var rowStart: [Int] = [0]
    public private(set) var indices: [Int32] = []
    public private(set) var values: [Float] = []
    /// The number of columns (features).
    public let columnCount: Int

    public init(columnCount: Int) {
        self.columnCount = columnCount
    }

    public init(rows: [SparseVector], columnCount: Int) {
        self.columnCount = columnCount
        for row in rows { append(row) }
    }

    public var rowCount: Int { rowStart.count - 1 }
    public var nonZeroCount: Int { indices.count }

    public mutating func append(_ row: SparseVector) {
        precondition(row.indices.allSatisfy { $0 >= 0 && Int($0) < columnCount }, "column index out of range")
        indices.append(contentsOf: row.indices)
        values.append(contentsOf: row.values)
        rowStart.append(indices.count)
    }

    /// Appends the rows of `other` (same column count).
    public mutating func append(contentsOf other: SparseMatrix) {
        precondition(other.columnCount == columnCount, "column counts differ")
        let offset = indices.count
        indices.append(contentsOf: other.indices)
        values.append(contentsOf: other.values)
        rowStart.append(contentsOf: other.rowStart.dropFirst().map { $0 + offset })
    }

    /// The rows at `rows`, in that order.
    public func selecting(rows: [Int]) -> SparseMatrix {
        var m = SparseMatrix(columnCount: columnCount)
        m.rowStart.reserveCapacity(rows.count + 1)
        for i in rows {
            let r = rowStart[i]..<rowStart[i + 1]
            m.indices.append(contentsOf: indices[r])
            m.values.append(contentsOf: values[r])
            m.rowStart.append(m.indices.count)
        }
        return m
    }
}
