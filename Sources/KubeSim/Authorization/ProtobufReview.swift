import KubeModels

/// Reads a SelfSubjectAccessReview sent as Kubernetes protobuf (kubectl sends built-in kinds of
/// the authorization group that way): the `k8s\0` envelope (`runtime.Unknown`), then the
/// review's `spec`. Only the fields a review carries are read; everything else is skipped by
/// its wire type. Bounded: every length is checked against what is left.
enum ProtobufReview {
    struct Malformed: Error {}

    static let magic: [UInt8] = [0x6b, 0x38, 0x73, 0x00]

    /// The review's `spec` as JSON, from the protobuf body.
    static func spec(_ bytes: [UInt8]) throws(Malformed) -> JSONValue {
        guard bytes.count >= 4, Array(bytes.prefix(4)) == magic else { throw Malformed() }
        // runtime.Unknown: 1 typeMeta, 2 raw, 3 contentEncoding, 4 contentType.
        guard let raw = try fields(bytes[4...])[2]?.first else { throw Malformed() }
        // SelfSubjectAccessReview: 1 metadata, 2 spec, 3 status.
        guard let spec = try fields(raw)[2]?.first else { return [:] }
        // SelfSubjectAccessReviewSpec: 1 resourceAttributes, 2 nonResourceAttributes.
        let specFields = try fields(spec)
        var result: [String: JSONValue] = [:]
        if let resource = specFields[1]?.first {
            let names = [1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource", 7: "name"]
            result["resourceAttributes"] = try strings(resource, names)
        }
        if let nonResource = specFields[2]?.first {
            result["nonResourceAttributes"] = try strings(nonResource, [1: "path", 2: "verb"])
        }
        return .object(result)
    }

    private static func strings(_ message: ArraySlice<UInt8>, _ names: [Int: String]) throws(Malformed) -> JSONValue {
        var result: [String: JSONValue] = [:]
        for (number, values) in try fields(message) {
            guard let name = names[number], let value = values.last else { continue }
            result[name] = .string(String(decoding: value, as: UTF8.self))
        }
        return .object(result)
    }

    /// The length-delimited fields of a message by number; varint and fixed fields skipped.
    static func fields(_ message: ArraySlice<UInt8>) throws(Malformed) -> [Int: [ArraySlice<UInt8>]] {
        var result: [Int: [ArraySlice<UInt8>]] = [:]
        var index = message.startIndex
        while index < message.endIndex {
            let key = try varint(message, &index)
            let number = Int(key >> 3)
            switch key & 7 {
            case 0: _ = try varint(message, &index)
            case 1:
                guard message.endIndex - index >= 8 else { throw Malformed() }
                index += 8
            case 2:
                let length = try varint(message, &index)
                guard length <= UInt64(message.endIndex - index) else { throw Malformed() }
                let end = index + Int(length)
                result[number, default: []].append(message[index..<end])
                index = end
            case 5:
                guard message.endIndex - index >= 4 else { throw Malformed() }
                index += 4
            default: throw Malformed()
            }
        }
        return result
    }

    static func varint(_ bytes: ArraySlice<UInt8>, _ index: inout Int) throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.endIndex {
            let byte = bytes[index]
            index += 1
            guard shift < 64 else { throw Malformed() }
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw Malformed()
    }
}
