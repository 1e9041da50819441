import Configuration
import DispatchAgent
import Logging
import Testing

/// Settings read once through swift-configuration, every default in `AgentSettings`.
@Suite struct AgentSettingsTests {
    func reader(_ values: [String: ConfigValue]) -> ConfigReader {
        var keyed: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in values { keyed[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = value }
        return ConfigReader(providers: [InMemoryProvider(name: "test", values: keyed)])
    }

    @Test func nothingConfiguredMeansTheDefaults() throws {
        let read = try AgentSettings(reader: reader([:]), podNamespace: "dispatch-system")
        let defaults = AgentSettings()
        #expect(read.rulesPath == defaults.rulesPath)
        #expect(read.webhookPort == defaults.webhookPort && read.proxyPort == defaults.proxyPort && read.adminPort == defaults.adminPort)
        #expect(read.connectTimeout == defaults.connectTimeout && read.defaultDeadline == defaults.defaultDeadline)
        #expect(read.bodyIdleTimeout == defaults.bodyIdleTimeout && read.longestCall == defaults.longestCall)
        #expect(read.drain == defaults.drain)
        #expect(read.logLevel == defaults.logLevel)
        #expect(read.namespace == "dispatch-system")
        #expect(read.managedWebhookCertificate == nil)
    }

    @Test func valuesAreReadAndTheDrainFollowsTheLongestCall() throws {
        let read = try AgentSettings(
            reader: reader([
                "dispatch.proxy.port": ConfigValue(.int(18080), isSecret: false),
                "dispatch.longest.call.seconds": ConfigValue(.double(60), isSecret: false),
                "dispatch.default.deadline": ConfigValue(.double(30), isSecret: false),
                "dispatch.log.level": ConfigValue(.string("debug"), isSecret: false),
            ]))
        #expect(read.proxyPort == 18080)
        #expect(read.longestCall == .seconds(60))
        #expect(read.drain == .seconds(70))
        #expect(read.logLevel == .debug)
    }

    @Test func theEngineProxyAndItsReplacementAreRead() throws {
        let read = try AgentSettings(
            reader: reader([
                "dispatch.engine.proxy.url": ConfigValue(.string("http://direktiv-dispatch-proxy.direktiv-dispatch.svc:8080"), isSecret: false),
                "dispatch.function.egress.proxy": ConfigValue(.string("http://egress:3128"), isSecret: false),
            ]))
        #expect(read.engineProxyURL == "http://direktiv-dispatch-proxy.direktiv-dispatch.svc:8080")
        #expect(read.functionEgressProxy == "http://egress:3128")
    }

    @Test(arguments: [
        ("dispatch.proxy.port", ConfigContent.int(70000), "is not a port"),
        ("dispatch.connect.timeout", .double(0), "must be positive"),
        ("dispatch.drain.seconds", .int(10), "must be at least the longest call"),
        ("dispatch.log.level", .string("loud"), "unknown log level"),
        ("dispatch.webhook.ca.secret", .string("ca"), "go together"),
        ("dispatch.engine.proxy.url", .string("socks5://proxy:1080"), "is not an http:// or https:// URL"),
        ("dispatch.function.egress.proxy", .string("http://egress:3128"), "it needs --engine-proxy-url"),
    ])
    func unusableValuesAreRefusedWithTheReason(key: String, value: ConfigContent, message: String) {
        #expect {
            try AgentSettings(reader: reader([key: ConfigValue(value, isSecret: false)]))
        } throws: { error in
            String(describing: error).contains(message)
        }
    }
}
