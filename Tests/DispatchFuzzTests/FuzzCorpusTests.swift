import DispatchFuzz
import Foundation
import Testing

/// Every committed seed of every fuzz target (`fuzz/corpus/TARGET/`) runs through its target in
/// the ordinary test run: the defects the seeds stand for stay fixed without libFuzzer.
@Suite struct FuzzCorpusTests {
    static let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz/corpus")

    static func seeds(_ target: FuzzTarget) -> [URL] {
        let directory = corpusRoot.appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everySeedHoldsItsTargetsProperty(target: FuzzTarget) throws {
        let seeds = Self.seeds(target)
        #expect(!seeds.isEmpty, "no seeds for \(target.rawValue)")
        for seed in seeds {
            let bytes = [UInt8](try Data(contentsOf: seed))
            #expect(throws: Never.self, "\(seed.lastPathComponent)") { try target.run(bytes) }
        }
    }
}
