import DispatchCore
import Foundation
import KubeClient
import KubeModels

extension JSONValue {
    /// The object with `kind` set: items of a list carry none.
    func withKind(_ kind: String) -> JSONValue {
        guard var fields = objectValue else { return self }
        fields["kind"] = .string(kind)
        return .object(fields)
    }
}

extension DoctorFacts {
    /// Reads what the checks need. Only the nodes are required; anything else that cannot be
    /// read becomes a fact of its own (not served, unreadable) that the checks report.
    ///
    /// - Parameter servingCertificatePEM: the certificate the webhook serves, when the caller knows it.
    public static func gather(client: KubeClient, settings: Doctor.Settings, servingCertificatePEM: String? = nil) async throws -> DoctorFacts {
        var facts = DoctorFacts()
        facts.nodes = try await client.list(JSONValue.self, .nodes).items
        facts.namespaces = await listing(client, .namespaces)
        facts.namespaceOffloadings = await listing(client, .namespaceOffloadings)
        facts.foreignClusters = await listing(client, .foreignClusters)
        facts.quotas = await listing(client, .liqoQuotas)
        for namespace in settings.rules.functionsNamespaces {
            switch await listing(client, .knativeServices, namespace: namespace) {
            case .items(let items):
                facts.knativeServed = true
                facts.workloads += items.map { $0.withKind("Service") }
            case .notServed, .unreadable: break
            }
            facts.workloads += (await listing(client, .deployments, namespace: namespace)).items.map { $0.withKind("Deployment") }
        }
        if facts.knativeServed {
            facts.knativeFeatures = await lookup(client, .configMaps, name: "config-features", namespace: settings.knativeNamespace)
        }
        facts.engine = await lookup(client, .deployments, name: settings.engineDeployment, namespace: settings.direktivNamespace)
        facts.webhookConfiguration = await lookup(client, .mutatingWebhookConfigurations, name: settings.webhookConfiguration)
        // In a pod the kubelet gives the same address; the agent may not read Services in `default`.
        facts.apiServerClusterIP =
            (await lookup(client, .services, name: "kubernetes", namespace: "default")).object?[path: "spec", "clusterIP"]?.stringValue
            ?? ProcessInfo.processInfo.environment["KUBERNETES_SERVICE_HOST"].flatMap { $0.isEmpty ? nil : $0 }
        facts.servingCertificatePEM = servingCertificatePEM
        return facts
    }

    static func listing(_ client: KubeClient, _ resource: ResourceDescriptor, namespace: String? = nil) async -> Listing {
        do {
            return .items(try await client.list(JSONValue.self, resource, namespace: namespace).items)
        } catch let error as KubeAPIError where error.isNotFound {
            // A list answered 404: the kind is not served here (its CRD is not installed).
            return .notServed
        } catch {
            return .unreadable("\(error)")
        }
    }

    static func lookup(_ client: KubeClient, _ resource: ResourceDescriptor, name: String, namespace: String? = nil) async -> Lookup {
        do {
            return .found(try await client.get(JSONValue.self, resource, name: name, namespace: namespace))
        } catch let error as KubeAPIError where error.isNotFound {
            return .missing
        } catch {
            return .unreadable("\(error)")
        }
    }

    /// The certificate (`tls.crt`) of a `kubernetes.io/tls` Secret, for comparing with caBundle.
    public static func certificate(client: KubeClient, secret: String, namespace: String) async -> String? {
        guard let object = (await lookup(client, .secrets, name: secret, namespace: namespace)).object,
            let encoded = object[path: "data", "tls.crt"]?.stringValue, let data = Data(base64Encoded: encoded)
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
