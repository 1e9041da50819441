import DispatchCore
import KubeModels

extension Doctor {
    /// With Knative Services in use, Knative lets the placement patch through.
    static func knativeFeatures(_ context: Context) -> [DoctorFinding] {
        let check = "knative-features"
        guard context.facts.knativeServed else {
            return [
                DoctorFinding(check: check, status: .pass, detail: "Knative Serving is not installed (Direktiv >= 0.10 Deployments need no flags)")
            ]
        }
        let where_ = "\(context.settings.knativeNamespace)/config-features"
        let data: [String: String]
        switch context.facts.knativeFeatures {
        case .found(let object): data = object["data"]?.stringMap ?? [:]
        case .missing: data = [:]
        case .unreadable(let why): return [DoctorFinding(check: check, status: .warn, detail: "cannot read \(where_): \(why)")]
        }
        let off = KnativeFeatures(configMapData: data, configMap: where_).missingFlags(addsTolerations: context.rules.liqo.addToleration)
        guard !off.isEmpty else {
            return [
                DoctorFinding(
                    check: check, status: .pass,
                    detail: "\(where_) enables \(context.rules.liqo.addToleration ? "affinity and tolerations" : "affinity")")
            ]
        }
        let patch = off.map { "\"\($0)\":\"enabled\"" }.joined(separator: ",")
        return [
            DoctorFinding(
                check: check, status: .fail, detail: "\(where_) does not enable \(off.joined(separator: ", "))",
                why: "Knative's webhook refuses every Service the agent places (must not set the field(s): spec.template.spec.affinity)",
                fix:
                    "kubectl -n \(context.settings.knativeNamespace) patch configmap config-features --type merge -p '{\"data\":{\(patch)}}'\n(with the Knative Operator set them in KnativeServing spec.config.features instead)"
            )
        ]
    }

    /// The plain value of the first env entry named one of `names` in `container`.
    static func env(_ container: JSONValue, _ names: [String]) -> String? {
        for entry in container["env"]?.arrayValue ?? [] {
            if let name = entry["name"]?.stringValue, names.contains(name), let value = entry["value"]?.stringValue { return value }
        }
        return nil
    }

    static func containers(_ workload: JSONValue) -> [JSONValue] {
        let spec = workload[path: "spec", "template", "spec"]
        return (spec?["initContainers"]?.arrayValue ?? []) + (spec?["containers"]?.arrayValue ?? [])
    }

    /// The engine sends function calls through the agent and nothing else.
    static func engineProxy(_ context: Context) -> [DoctorFinding] {
        let check = "engine-proxy"
        let settings = context.settings
        let target = "deployment/\(settings.engineDeployment) in \(settings.direktivNamespace)"
        let engine: JSONValue
        switch context.facts.engine {
        case .found(let object): engine = object
        case .missing:
            return [
                DoctorFinding(
                    check: check, status: .warn, detail: "Direktiv's engine \(target) was not found",
                    why: "the engine's proxy settings cannot be checked", fix: "name it: doctor --direktiv-namespace NS --engine-deployment NAME")
            ]
        case .unreadable(let why): return [DoctorFinding(check: check, status: .warn, detail: "cannot read \(target): \(why)")]
        }
        let url = settings.agentProxyURL ?? "<the agent's proxy URL>"
        let functionsHosts = context.rules.functionsNamespaces.flatMap { ["fn.\($0)", "fn.\($0).svc", "fn.\($0).svc.cluster.local"] }
        let apiServer = context.facts.apiServerClusterIP
        let noProxyFix =
            "localhost,127.0.0.1,\(apiServer ?? "<API server ClusterIP>"),kubernetes.default.svc,kubernetes.default.svc.cluster.local,\(settings.direktivNamespace),\(settings.direktivNamespace).svc,\(settings.direktivNamespace).svc.cluster.local"
        let fix =
            "kubectl -n \(settings.direktivNamespace) set env deployment/\(settings.engineDeployment) HTTP_PROXY=\(url) NO_PROXY=\(noProxyFix)\n(or Direktiv's chart values http_proxy and no_proxy, which an upgrade keeps)"
        let engineContainers = containers(engine)
        guard let proxy = engineContainers.lazy.compactMap({ env($0, ["HTTP_PROXY", "http_proxy"]) }).first else {
            return [
                DoctorFinding(
                    check: check, status: .fail, detail: "\(target) has no HTTP_PROXY",
                    why: "the engine calls functions directly: calls work but are never measured, and latency and invocation metrics stay empty",
                    fix: fix)
            ]
        }
        if let agent = settings.agentProxyURL.flatMap(ProxyURL.init), ProxyURL(proxy) != agent {
            return [
                DoctorFinding(
                    check: check, status: .fail,
                    detail: "\(target) sends calls to \(proxy), not to the agent's proxy \(settings.agentProxyURL ?? "")",
                    why: "function calls go elsewhere and are not measured; and the webhook only removes the agent's URL from function containers",
                    fix: fix)
            ]
        }
        var findings: [DoctorFinding] = []
        let noProxy = NoProxy(engineContainers.lazy.compactMap { env($0, ["NO_PROXY", "no_proxy"]) }.first ?? "")
        let bypassing = functionsHosts.filter { noProxy.bypasses(host: $0) }
        if !bypassing.isEmpty {
            findings.append(
                DoctorFinding(
                    check: check, status: .fail,
                    detail: "NO_PROXY of \(target) matches function hosts (\(bypassing.joined(separator: ", ")))",
                    why: "those calls bypass the agent: they work but go unmeasured",
                    fix: "remove svc, svc.cluster.local, cluster.local and functions-namespace entries from NO_PROXY:\n" + fix))
        }
        let apiHosts = ["kubernetes.default.svc"] + (apiServer.map { [$0] } ?? [])
        if !apiHosts.contains(where: { noProxy.bypasses(host: $0, port: 443) }) {
            let httpsProxy = engineContainers.lazy.compactMap { env($0, ["HTTPS_PROXY", "https_proxy"]) }.first
            findings.append(
                DoctorFinding(
                    check: check, status: httpsProxy == nil ? .warn : .fail,
                    detail: "NO_PROXY of \(target) does not cover the API server (\(apiHosts.joined(separator: ", ")))",
                    why: httpsProxy == nil
                        ? "harmless while HTTPS_PROXY is unset (the API server is HTTPS), wrong as soon as one is set"
                        : "with HTTPS_PROXY set, the engine's own calls to the API server go to that proxy",
                    fix: fix))
        }
        if findings.isEmpty {
            findings.append(
                DoctorFinding(
                    check: check, status: .pass,
                    detail: "\(target) sends function calls to \(proxy); NO_PROXY covers the API server and no function host"))
        }
        return findings
    }

    /// Function containers no longer carry the agent's proxy (those created before the agent do).
    static func functionEgress(_ context: Context) -> [DoctorFinding] {
        let check = "function-egress"
        guard let agent = context.settings.agentProxyURL.flatMap(ProxyURL.init) else {
            return [DoctorFinding(check: check, status: .pass, detail: "not checked: the agent's proxy URL is not known (--proxy-url)")]
        }
        let carrying = context.facts.workloads.filter { workload in
            containers(workload).contains { container in
                (container["env"]?.arrayValue ?? []).contains { entry in
                    ["HTTP_PROXY", "http_proxy"].contains(entry["name"]?.stringValue ?? "")
                        && entry["value"]?.stringValue.flatMap(ProxyURL.init) == agent
                }
            }
        }
        guard !carrying.isEmpty else {
            return [
                DoctorFinding(
                    check: check, status: .pass, detail: "none of \(context.facts.workloads.count) function workload(s) carries the agent's proxy")
            ]
        }
        let names = carrying.map { "\($0.namespace)/\($0.name)" }.sorted()
        return [
            DoctorFinding(
                check: check, status: .warn,
                detail: "\(names.count) function workload(s) created before the agent carry its proxy: \(names.joined(separator: ", "))",
                why: "their own plain-HTTP calls go to the agent, which refuses hosts that are not functions (403)",
                fix: carrying.map { workload in
                    let kind = workload["kind"]?.stringValue == "Deployment" ? "deployment" : "ksvc"
                    return "kubectl -n \(workload.namespace) delete \(kind) \(workload.name)"
                }.joined(separator: "\n") + "\n(Direktiv recreates each one; the webhook then removes the variable)")
        ]
    }
}
