import DispatchCertificates
import Foundation
import Hummingbird
import HummingbirdTLS
import KubeModels
import KubeSim
import NIOCore
import NIOSSL
import ServiceLifecycle
import TestSupport

/// An HTTPS admission webhook that answers each AdmissionReview with what `answer` returns
/// (the raw JSON, so tests can break the contract on purpose) and records what it was sent.
struct ScriptedWebhook {
    let url: String
    let caPEM: String
    let reviews: Recorder<JSONValue>

    /// How the webhook answers each review.
    struct Answering: Sendable {
        let answer: @Sendable (JSONValue) -> JSONValue
        init(_ answer: @escaping @Sendable (JSONValue) -> JSONValue) { self.answer = answer }
    }

    static func with<T>(_ answering: Answering, _ body: (ScriptedWebhook) async throws -> T) async throws -> T {
        let answer = answering.answer
        let ca = try CertificateAuthority(commonName: "scripted-webhook-ca")
        let issued = try ca.issue(commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"])
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(issued.certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(issued.privateKeyPEM.utf8), format: .pem)))
        let reviews = Recorder<JSONValue>()
        let router = Router()
        // Webhooks sharing the server tell themselves apart by path; the review records it.
        for path in ["/", "/second"] {
            router.post(RouterPath(path)) { request, context -> Response in
                let body = try await request.body.collect(upTo: 4 << 20)
                let review = try JSONValue.parse(body.readableBytesView).setting("calledPath", .string(path))
                reviews.append(review)
                let bytes = try answer(review).encoded()
                return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
            }
        }
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                port.yield(channel.localAddress?.port ?? 0)
                port.finish()
            })
        let task = Task { try await application.runService(gracefulShutdownSignals: []) }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw HarnessError("the scripted webhook did not start") }
        return try await body(ScriptedWebhook(url: "https://127.0.0.1:\(bound)/", caPEM: ca.certificatePEM, reviews: reviews))
    }

    /// The answer a well-behaved webhook gives: allowed, with the request's uid, and a JSON
    /// patch when `patch` is given.
    static func allowed(_ review: JSONValue, patch: [[String: JSONValue]]? = nil) -> JSONValue {
        var response: [String: JSONValue] = ["uid": review[path: "request", "uid"] ?? "", "allowed": true]
        if let patch, let data = try? JSONValue.array(patch.map(JSONValue.object)).encoded() {
            response["patch"] = .string(data.base64EncodedString())
            response["patchType"] = "JSONPatch"
        }
        return ["apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": .object(response)]
    }

    /// A configuration with one webhook at this server.
    func configuration(
        _ kind: String = "MutatingWebhookConfiguration", name: String = "scripted", webhooks: [[String: JSONValue]]
    ) -> JSONValue {
        [
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": .string(kind), "metadata": ["name": .string(name)],
            "webhooks": .array(
                webhooks.map { extra in
                    var webhook: [String: JSONValue] = [
                        "name": "scripted.kubesim.dev", "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Fail",
                        "timeoutSeconds": 5,
                        "clientConfig": ["url": .string(url), "caBundle": .string(Data(caPEM.utf8).base64EncodedString())],
                        "rules": [
                            [
                                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE", "DELETE"], "resources": ["configmaps"],
                                "scope": "Namespaced",
                            ]
                        ],
                    ]
                    webhook.merge(extra) { $1 }
                    return .object(webhook)
                }),
        ]
    }
}
