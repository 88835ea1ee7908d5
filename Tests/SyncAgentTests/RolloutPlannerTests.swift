import SyncAgent
import Testing

@Suite("Rollout planning")
struct RolloutPlannerTests {
    let v1 = RolloutPlanner.Wanted(template: "ubuntu", version: "1", digest: "d1")
    let v2 = RolloutPlanner.Wanted(template: "ubuntu", version: "2", digest: "d2")
    let v3 = RolloutPlanner.Wanted(template: "ubuntu", version: "3", digest: "d3")

    func installed(
        _ id: String, _ w: RolloutPlanner.Wanted, _ state: RolloutPlanner.Installed.State = .ready, featured: Bool = false, usedBy: Int = 0
    )
        -> RolloutPlanner.Installed
    {
        .init(id: id, template: w.template, version: w.version, digest: w.digest, state: state, featured: featured, usedBy: usedBy)
    }

    @Test("a fresh site registers the kept versions; once ready the newest is featured; a converged site plans nothing")
    func freshAndConverged() {
        let planner = RolloutPlanner(keepVersions: 2)
        #expect(planner.plan(wanted: [v1, v2, v3], installed: []) == [.register(v2), .register(v3)])
        let downloading = [installed("a", v2, .inProgress), installed("b", v3, .inProgress)]
        #expect(planner.plan(wanted: [v1, v2, v3], installed: downloading).isEmpty)
        let ready = [installed("a", v2), installed("b", v3)]
        #expect(planner.plan(wanted: [v1, v2, v3], installed: ready) == [.feature(id: "b")])
        let converged = [installed("a", v2), installed("b", v3, featured: true)]
        #expect(planner.plan(wanted: [v1, v2, v3], installed: converged).isEmpty)
    }

    @Test("a new version is registered; the old one is retired only after the new one is ready, and never while a VM uses it")
    func rollover() {
        let planner = RolloutPlanner(keepVersions: 1)
        let before = [installed("a", v1, featured: true)]
        let notReady = RolloutPlanner.Action.keep(id: "a", template: "ubuntu", version: "1", reason: "the newest version is not ready yet")
        #expect(planner.plan(wanted: [v1, v2], installed: before) == [.register(v2), notReady])
        let pending = before + [installed("b", v2, .inProgress)]
        let waiting = planner.plan(wanted: [v1, v2], installed: pending)
        #expect(waiting == [notReady])
        let ready = [installed("a", v1, featured: true, usedBy: 3), installed("b", v2)]
        #expect(
            planner.plan(wanted: [v1, v2], installed: ready) == [
                .feature(id: "b"), .unfeature(id: "a"), .keep(id: "a", template: "ubuntu", version: "1", reason: "3 VM(s) still use it"),
            ])
        let released = [installed("a", v1), installed("b", v2, featured: true)]
        #expect(
            planner.plan(wanted: [v1, v2], installed: released) == [
                .delete(id: "a", template: "ubuntu", version: "1", reason: "past the retention of 1")
            ])
    }

    @Test("a failed registration is deleted (first) and registered again; a version already installed is never registered twice")
    func failuresAndDuplicates() {
        let planner = RolloutPlanner(keepVersions: 1)
        let failed = [installed("a", v2, .failed)]
        #expect(
            planner.plan(wanted: [v2], installed: failed) == [
                .delete(id: "a", template: "ubuntu", version: "2", reason: "its registration failed"), .register(v2),
            ])
        #expect(planner.plan(wanted: [v2], installed: [installed("x", v2, featured: true)]).isEmpty)
    }

    @Test("several copies of one version (an interrupted pass's): the ready one stays, failed and spare copies go, a used one is kept")
    func duplicatesAfterACrash() {
        let planner = RolloutPlanner(keepVersions: 1)
        // What five kills left: a failed copy listed first, then the complete one.
        let left = [installed("a", v2, .failed), installed("b", v2)]
        #expect(
            planner.plan(wanted: [v2], installed: left) == [
                .delete(id: "a", template: "ubuntu", version: "2", reason: "its registration failed"), .feature(id: "b"),
            ])
        // Two downloading copies: one waits, the other goes.
        let twice = [installed("d", v2, .inProgress), installed("c", v2, .inProgress)]
        #expect(
            planner.plan(wanted: [v2], installed: twice) == [
                .delete(id: "d", template: "ubuntu", version: "2", reason: "a second copy (an interrupted pass left it)")
            ])
        // Of two ready copies the one a VM uses stays the version's (and becomes the featured one); the spare goes.
        let used = [installed("e", v2, featured: true), installed("f", v2, usedBy: 2)]
        #expect(
            planner.plan(wanted: [v2], installed: used) == [
                .delete(id: "e", template: "ubuntu", version: "2", reason: "a second copy (an interrupted pass left it)"), .feature(id: "f"),
            ])
        // A spare that a VM uses stays, and says why.
        let bothUsed = [installed("g", v2, featured: true, usedBy: 1), installed("h", v2, usedBy: 2)]
        #expect(
            planner.plan(wanted: [v2], installed: bothUsed) == [
                .keep(id: "h", template: "ubuntu", version: "2", reason: "a second copy, but 2 VM(s) use it")
            ])
    }

    @Test("a registration left untagged (the agent died before createTags) is adopted, not registered again; an untagged failed one goes")
    func untaggedAdopted() {
        let planner = RolloutPlanner(keepVersions: 1)
        var orphan = installed("o", v2, .inProgress)
        orphan.tagged = false
        #expect(planner.plan(wanted: [v2], installed: [orphan]) == [.adopt(id: "o", v2)])
        orphan.state = .ready
        #expect(planner.plan(wanted: [v2], installed: [orphan]) == [.adopt(id: "o", v2), .feature(id: "o")])
        orphan.state = .failed
        #expect(
            planner.plan(wanted: [v2], installed: [orphan]) == [
                .delete(id: "o", template: "ubuntu", version: "2", reason: "its registration failed"), .register(v2),
            ])
        // Beside a tagged copy, the untagged one is a spare.
        var spare = installed("p", v2)
        spare.tagged = false
        #expect(
            planner.plan(wanted: [v2], installed: [spare, installed("q", v2, featured: true)]) == [
                .delete(id: "p", template: "ubuntu", version: "2", reason: "a second copy (an interrupted pass left it)")
            ])
    }

    @Test("two versions of the same bytes are two registrations, each matched by template, version and digest")
    func sameBytesTwoVersions() {
        let planner = RolloutPlanner(keepVersions: 2)
        let a = RolloutPlanner.Wanted(template: "tpl", version: "1", digest: "same")
        let b = RolloutPlanner.Wanted(template: "tpl", version: "1c", digest: "same")
        #expect(planner.plan(wanted: [a, b], installed: [installed("x", a)]) == [.register(b), .feature(id: "x")])
        #expect(planner.plan(wanted: [a, b], installed: [installed("x", a), installed("y", b)]) == [.feature(id: "y")])
    }
}
