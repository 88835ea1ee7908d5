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

    @Test("a failed registration is deleted and registered again; a digest already installed is never registered twice")
    func failuresAndDuplicates() {
        let planner = RolloutPlanner(keepVersions: 1)
        let failed = [installed("a", v2, .failed)]
        #expect(
            planner.plan(wanted: [v2], installed: failed) == [
                .register(v2), .delete(id: "a", template: "ubuntu", version: "2", reason: "its registration failed"),
            ])
        // Same digest under another name tag (renamed by hand): matched by digest, not registered again.
        var renamed = installed("x", v2, featured: true)
        renamed.version = "2-hand-renamed"
        #expect(planner.plan(wanted: [v2], installed: [renamed]).isEmpty)
    }
}
