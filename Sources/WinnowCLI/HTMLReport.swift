import Foundation
import Learning

enum HTMLReport {
    static func render(_ r: ClassificationReport, model: ModelHeader, data: [String]) -> String { "" }
}
