/// Decides what a site must change in its CloudStack so that it converges on the catalog: pure logic,
/// no I/O, the same answer for the same inputs (reruns after a crash reach the same end state).
///
/// Rules: a version is registered once (matched by its image digest tag, never by name); a failed
/// registration is deleted and registered again; the newest *ready* version is the featured one; versions
/// past the retention count are deleted only once the newest is ready, and never while a VM uses them.
public struct RolloutPlanner: Sendable {
    /// How many versions of each template to keep installed.
    public var keepVersions: Int

    public init(keepVersions: Int = 2) { self.keepVersions = max(1, keepVersions) }

    /// A version the catalog offers (for a subscribed template), oldest first in each template.
    public struct Wanted: Sendable, Hashable {
        public var template: String
        public var version: String
        public var digest: String

        public init(template: String, version: String, digest: String) {
            self.template = template
            self.version = version
            self.digest = digest
        }
    }

    /// A template as the local CloudStack has it, read back through its tags.
    public struct Installed: Sendable, Hashable {
        public enum State: Sendable, Hashable {
            case ready
            case inProgress
            case failed
        }

        public var id: String
        public var template: String
        public var version: String
        public var digest: String
        public var state: State
        public var featured: Bool
        /// VMs that still use it (`listVirtualMachines templateid=`).
        public var usedBy: Int

        public init(id: String, template: String, version: String, digest: String, state: State, featured: Bool, usedBy: Int) {
            self.id = id
            self.template = template
            self.version = version
            self.digest = digest
            self.state = state
            self.featured = featured
            self.usedBy = usedBy
        }
    }

    public enum Action: Sendable, Hashable {
        case register(Wanted)
        case delete(id: String, template: String, version: String, reason: String)
        case feature(id: String)
        case unfeature(id: String)
        /// Left alone on purpose, with why (reported, not acted on).
        case keep(id: String, template: String, version: String, reason: String)
    }

    /// The actions for every template in `wanted`, in a safe order: registrations, then featuring, then
    /// un-featuring, then deletions.
    public func plan(wanted: [Wanted], installed: [Installed]) -> [Action] {
        var registers: [Action] = []
        var features: [Action] = []
        var unfeatures: [Action] = []
        var deletes: [Action] = []
        var keeps: [Action] = []
        let templates = orderedUnique(wanted.map(\.template))
        for template in templates {
            let versions = wanted.filter { $0.template == template }
            let present = installed.filter { $0.template == template }
            let kept = Array(versions.suffix(keepVersions))
            let keptDigests = Set(kept.map(\.digest))

            for version in kept {
                let copies = present.filter { $0.digest == version.digest }
                if copies.isEmpty {
                    registers.append(.register(version))
                } else if copies.allSatisfy({ $0.state == .failed }) {
                    for copy in copies {
                        deletes.append(.delete(id: copy.id, template: template, version: copy.version, reason: "its registration failed"))
                    }
                    registers.append(.register(version))
                }
            }

            // The featured one: the newest wanted version that is ready here (an older one stays featured
            // until a newer one is ready).
            let newestReady = versions.reversed().lazy.compactMap { version in
                present.first { $0.digest == version.digest && $0.state == .ready }
            }.first
            if let newestReady, !newestReady.featured { features.append(.feature(id: newestReady.id)) }
            for copy in present where copy.featured && copy.id != newestReady?.id {
                unfeatures.append(.unfeature(id: copy.id))
            }

            // Retirement: only once the newest wanted version is ready, never while in use.
            let newestIsReady = kept.last.map { newest in present.contains { $0.digest == newest.digest && $0.state == .ready } } ?? false
            for copy in present where !keptDigests.contains(copy.digest) && copy.state != .failed {
                if !newestIsReady {
                    keeps.append(.keep(id: copy.id, template: template, version: copy.version, reason: "the newest version is not ready yet"))
                } else if copy.usedBy > 0 {
                    keeps.append(.keep(id: copy.id, template: template, version: copy.version, reason: "\(copy.usedBy) VM(s) still use it"))
                } else {
                    deletes.append(.delete(id: copy.id, template: template, version: copy.version, reason: "past the retention of \(keepVersions)"))
                }
            }
            for copy in present where !keptDigests.contains(copy.digest) && copy.state == .failed {
                deletes.append(.delete(id: copy.id, template: template, version: copy.version, reason: "its registration failed"))
            }
        }
        return registers + features + unfeatures + deletes + keeps
    }

    private func orderedUnique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}
