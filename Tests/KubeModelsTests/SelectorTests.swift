import KubeModels
import Testing

@Suite struct SelectorTests {
    let labels = ["app": "web", "tier": "front", "env": "prod"]

    @Test(arguments: [
        ("", true), ("app=web", true), ("app==web", true), ("app=db", false), ("app!=db", true), ("app!=web", false),
        ("app in (web,db)", true), ("app in (db)", false), ("app notin (db)", true), ("missing notin (db)", true),
        ("tier", true), ("missing", false), ("!missing", true), ("!tier", false),
        ("app=web,tier=front", true), ("app=web,tier=back", false), (" app = web , env in ( prod , dev ) ", true),
        ("dispatch.direktiv.io/cluster", false),
    ])
    func matches(selector: String, expected: Bool) throws {
        #expect(try LabelSelector(parsing: selector).matches(labels) == expected)
    }

    @Test(arguments: ["app in web", "app in (web", "app=(x)", "=web", "app notin", "a b c"])
    func refusesMalformedSelectors(selector: String) {
        #expect(throws: SelectorError.self) { try LabelSelector(parsing: selector) }
    }

    @Test func fieldSelectorsReadNestedFields() throws {
        let pod: JSONValue = ["metadata": ["name": "p", "namespace": "ns"], "spec": ["nodeName": "n1"], "status": ["phase": "Running"]]
        #expect(try FieldSelector(parsing: "metadata.name=p,spec.nodeName!=").matches(pod))
        #expect(try FieldSelector(parsing: "status.phase!=Succeeded,status.phase!=Failed").matches(pod))
        #expect(!(try FieldSelector(parsing: "spec.nodeName=n2").matches(pod)))
        let unbound: JSONValue = ["metadata": ["name": "q"], "spec": [:]]
        #expect(!(try FieldSelector(parsing: "spec.nodeName!=").matches(unbound)))
        #expect(throws: SelectorError.self) { try FieldSelector(parsing: "spec.nodeName") }
    }
}
