import Foundation
import KubeModels

/// Targets over the JSON layer the webhook and the API client share.
enum JSONFuzzing {
    /// Parse, write, parse: the same value, compact or pretty.
    static func roundTrip(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let value = try? JSONValue.parse(bytes) else { return }
        let written = value.jsonBytes
        guard let again = try? JSONValue.parse(written) else {
            throw FuzzFailure("the written JSON does not parse: \(String(decoding: written, as: UTF8.self).debugDescription)")
        }
        try require(same(again, value), "round trip changed the value: \(String(decoding: written, as: UTF8.self).debugDescription)")
        let pretty = (try? value.encoded(pretty: true)).map { Array($0) } ?? []
        try require((try? JSONValue.parse(pretty)).map { same($0, value) } ?? false, "pretty round trip changed the value")
    }

    /// Equal values, taking an integral Double and the Int64 it is written as for the same number.
    static func same(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.integer(let a), .number(let b)), (.number(let b), .integer(let a)): return Double(a) == b
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy(same)
        case (.object(let a), .object(let b)): return a.count == b.count && a.allSatisfy { key, value in b[key].map { same(value, $0) } ?? false }
        default: return lhs == rhs
        }
    }

    /// `patch` NUL `document`: the patch applies or throws, never traps.
    static func jsonPatch(_ bytes: [UInt8]) {
        let (patchBytes, documentBytes) = bytes.split(at: 0)
        guard let operations = try? JSONDecoder().decode([JSONPatchOperation].self, from: Data(patchBytes)),
            let document = try? JSONValue.parse(documentBytes)
        else { return }
        _ = try? JSONPatch.apply(operations, to: document)
    }

    /// `patch` NUL `document`: RFC 7386 merge patches are idempotent.
    static func mergePatch(_ bytes: [UInt8]) throws(FuzzFailure) {
        let (patchBytes, documentBytes) = bytes.split(at: 0)
        guard let patch = try? JSONValue.parse(patchBytes), let document = try? JSONValue.parse(documentBytes) else { return }
        let once = JSONMergePatch.apply(patch, to: document)
        let twice = JSONMergePatch.apply(patch, to: once)
        try require(once == twice, "a merge patch applied twice differs from once")
    }
}
