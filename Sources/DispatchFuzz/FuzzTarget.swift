/// The fuzz targets: each takes arbitrary bytes and checks a property of one parser (or of the
/// whole webhook path), throwing `FuzzFailure` when the property does not hold.
///
/// They run three ways: under libFuzzer (`scripts/fuzz.sh TARGET SECONDS`, which builds the
/// `dispatch-fuzz` executable with `-sanitize=fuzzer,address`), over the committed corpora in
/// the test suite (`FuzzCorpusTests`), and from anywhere that has bytes to try. A crash or trap
/// inside a parser is a finding as much as a thrown failure.
public enum FuzzTarget: String, Sendable, CaseIterable {
    /// The proxy's request head: scan, parse, rewrite for the function, parse the rewrite.
    case requestHead = "request-head"
    /// A function's response head: parse, rewrite for the caller, parse the rewrite.
    case responseHead = "response-head"
    /// Body framing (length and chunked): the same bytes in any split give the same result.
    case bodyFraming = "body-framing"
    /// The proxy's request-target parser (absolute and reverse forms, the allow-list).
    case proxyTarget = "proxy-target"
    /// `Direktiv-Deadline`: the fast reader and the clamp.
    case deadline
    /// JSON parse, write, parse: the same value.
    case json
    /// JSON Patch (RFC 6902) application.
    case jsonPatch = "json-patch"
    /// JSON Merge Patch (RFC 7386): applying a patch twice is applying it once.
    case mergePatch = "merge-patch"
    /// The rules file parser.
    case rules
    /// AdmissionReview decoding, placement and the patch, without I/O: a patch applies to its
    /// object, and the patched object needs no further patch.
    case admission
    /// Kubernetes quantities.
    case quantity
    /// Label selectors, as text and as structured JSON.
    case labelSelector = "label-selector"
    /// The proxy's request head and body framing against NIOHTTP1's decoder (llhttp): where a
    /// request ends and how long its body is, unless the proxy refuses it.
    case differentialHTTP = "differential-http"
    /// KubeSim's strategic merge patch for built-in kinds: applying a patch twice is applying it once.
    case strategicMergePatch = "strategic-merge-patch"
    /// KubeSim's CRD schemas: decoding (pruning, defaulting) is a fixed point, validation stable.
    case customResource = "custom-resource"
    /// KubeSim's CEL subset for webhook `matchConditions`: stable evaluation, double negation.
    case matchCondition = "match-condition"
    /// KubeSim's server-side apply: applying a configuration twice is applying it once.
    case serverSideApply = "server-side-apply"
    /// KubeSim's reader of protobuf SelfSubjectAccessReviews (`kubectl auth can-i`).
    case protobufReview = "protobuf-review"
    /// Direktiv's namespace list as the agent reads it (`--direktiv-api`).
    case direktivNamespaces = "direktiv-namespaces"

    /// Runs the target on `bytes`.
    public func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        switch self {
        case .requestHead: try HTTPFuzzing.requestHead(bytes)
        case .responseHead: try HTTPFuzzing.responseHead(bytes)
        case .bodyFraming: try HTTPFuzzing.bodyFraming(bytes)
        case .proxyTarget: HTTPFuzzing.proxyTarget(bytes)
        case .deadline: try HTTPFuzzing.deadline(bytes)
        case .json: try JSONFuzzing.roundTrip(bytes)
        case .jsonPatch: JSONFuzzing.jsonPatch(bytes)
        case .mergePatch: try JSONFuzzing.mergePatch(bytes)
        case .rules: KubernetesFuzzing.rules(bytes)
        case .admission: try KubernetesFuzzing.admission(bytes)
        case .quantity: try KubernetesFuzzing.quantity(bytes)
        case .labelSelector: KubernetesFuzzing.labelSelector(bytes)
        case .differentialHTTP: try DifferentialHTTPFuzzing.run(bytes)
        case .strategicMergePatch: try KubeSimTargets.strategicMergePatch(bytes)
        case .customResource: try KubeSimTargets.customResource(bytes)
        case .matchCondition: try KubeSimTargets.matchCondition(bytes)
        case .serverSideApply: try KubeSimTargets.serverSideApply(bytes)
        case .protobufReview: try KubeSimTargets.protobufReview(bytes)
        case .direktivNamespaces: try KubernetesFuzzing.direktivNamespaces(bytes)
        }
    }
}

/// A property of a target did not hold for some input.
public struct FuzzFailure: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Throws `FuzzFailure(message)` unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(FuzzFailure) {
    if !condition { throw FuzzFailure(message()) }
}

extension Array where Element == UInt8 {
    /// The bytes split at the first `separator` byte (the second part empty when there is none).
    func split(at separator: UInt8) -> (ArraySlice<UInt8>, ArraySlice<UInt8>) {
        guard let index = firstIndex(of: separator) else { return (self[...], []) }
        return (self[..<index], self[(index + 1)...])
    }
}
