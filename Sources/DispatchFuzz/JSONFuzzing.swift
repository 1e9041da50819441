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
        // An integral Double is written without a fraction and read back as an Int64.
        try require(again.isNumericallyEqual(to: value), "round trip changed the value: \(String(decoding: written, as: UTF8.self).debugDescription)")
        let pretty = (try? value.encoded(pretty: true)).map { Array($0) } ?? []
        try require((try? JSONValue.parse(pretty)).map { $0.isNumericallyEqual(to: value) } ?? false, "pretty round trip changed the value")
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
