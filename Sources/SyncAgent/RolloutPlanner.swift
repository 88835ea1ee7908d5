/// Decides what a site must change in its CloudStack so that it converges on the catalog: pure logic,
/// no I/O, the same answer for the same inputs (reruns after a crash reach the same end state).
///
/// Rules: a version is one registration, matched by its template, version and image digest (two versions of
/// the same bytes are two registrations); of several copies of one version (left by interrupted passes) the
/// best one stays — ready before downloading before failed — and the others go unless a VM uses them; a copy
/// an interrupted pass left untagged is adopted (tagged) or removed; a failed registration is deleted and
/// registered again; the newest *ready* version is the featured one; versions past the retention count are
/// deleted only once the newest is ready, and never while a VM uses them.
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

        /// Whether `copy` is a registration of this version.
        public func isRegistered(as copy: Installed) -> Bool {
            copy.template == template && copy.version == version && copy.digest == digest
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
        /// False for a registration found by its name and checksum only: a pass died (or `createTags` failed)
        /// between `registerTemplate` and tagging it.
        public var tagged: Bool
        /// CloudStack's words for a failed registration (its `status`).
        public var failure: String?

        public init(
            id: String, template: String, version: String, digest: String, state: State, featured: Bool, usedBy: Int, tagged: Bool = true
        ) {
            self.id = id
            self.template = template
            self.version = version
            self.digest = digest
            self.state = state
            self.featured = featured
            self.usedBy = usedBy
            self.tagged = tagged
        }

        /// Which of two copies of one version to keep: ready before downloading before failed, then one a VM
        /// uses, the featured one, a tagged one, and the lower id (so that every pass picks the same).
        static func isBetter(_ a: Installed, than b: Installed) -> Bool {
            func rank(_ state: State) -> Int {
                switch state {
                case .ready: 0
                case .inProgress: 1
                case .failed: 2
                }
            }
            if rank(a.state) != rank(b.state) { return rank(a.state) < rank(b.state) }
            if (a.usedBy > 0) != (b.usedBy > 0) { return a.usedBy > 0 }
            if a.featured != b.featured { return a.featured }
            if a.tagged != b.tagged { return a.tagged }
            return a.id < b.id
        }
    }

    public enum Action: Sendable, Hashable {
        case register(Wanted)
        /// Tags a registration an interrupted pass left untagged, so that it is this version's from now on.
        case adopt(id: String, Wanted)
        case delete(id: String, template: String, version: String, reason: String)
        case feature(id: String)
        case unfeature(id: String)
        /// Left alone on purpose, with why (reported, not acted on).
        case keep(id: String, template: String, version: String, reason: String)
    }

    /// The actions for every template in `wanted`, in a safe order: deletions of failed and duplicate copies,
    /// adoptions, registrations, then featuring, then un-featuring, then retirements.
    public func plan(wanted: [Wanted], installed: [Installed]) -> [Action] {
        var cleanups: [Action] = []
        var adoptions: [Action] = []
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
            // The copy each kept version keeps (absent when it has none, or only failed ones).
            var chosen: [Wanted: Installed] = [:]

            for version in kept {
                let copies = present.filter(version.isRegistered(as:)).sorted(by: Installed.isBetter)
                guard let best = copies.first, best.state != .failed else {
                    for copy in copies {
                        cleanups.append(.delete(id: copy.id, template: template, version: copy.version, reason: "its registration failed"))
                    }
                    registers.append(.register(version))
                    continue
                }
                chosen[version] = best
                if !best.tagged { adoptions.append(.adopt(id: best.id, version)) }
                for copy in copies.dropFirst() {
                    if copy.state == .failed {
                        cleanups.append(.delete(id: copy.id, template: template, version: copy.version, reason: "its registration failed"))
                    } else if copy.usedBy > 0 {
                        keeps.append(
                            .keep(id: copy.id, template: template, version: copy.version, reason: "a second copy, but \(copy.usedBy) VM(s) use it"))
                    } else {
                        cleanups.append(
                            .delete(id: copy.id, template: template, version: copy.version, reason: "a second copy (an interrupted pass left it)"))
                    }
                }
            }

            // The featured one: the newest wanted version that is ready here (an older one stays featured
            // until a newer one is ready).
            let newestReady = versions.reversed().lazy.compactMap { version in
                chosen[version] ?? present.filter(version.isRegistered(as:)).sorted(by: Installed.isBetter).first
            }.first { $0.state == .ready }
            if let newestReady, !newestReady.featured { features.append(.feature(id: newestReady.id)) }
            let removed = Set(cleanups.compactMap { action -> String? in if case .delete(let id, _, _, _) = action { id } else { nil } })
            for copy in present where copy.featured && copy.id != newestReady?.id && !removed.contains(copy.id) {
                unfeatures.append(.unfeature(id: copy.id))
            }

            // Retirement: only once the newest wanted version is ready, never while in use.
            let newestIsReady = kept.last.map { chosen[$0]?.state == .ready } ?? false
            let retired = present.filter { copy in !kept.contains { $0.isRegistered(as: copy) } }
            for copy in retired where copy.state != .failed {
                if !newestIsReady {
                    keeps.append(.keep(id: copy.id, template: template, version: copy.version, reason: "the newest version is not ready yet"))
                } else if copy.usedBy > 0 {
                    keeps.append(.keep(id: copy.id, template: template, version: copy.version, reason: "\(copy.usedBy) VM(s) still use it"))
                } else {
                    deletes.append(.delete(id: copy.id, template: template, version: copy.version, reason: "past the retention of \(keepVersions)"))
                }
            }
            for copy in retired where copy.state == .failed {
                cleanups.append(.delete(id: copy.id, template: template, version: copy.version, reason: "its registration failed"))
            }
        }
        return cleanups + adoptions + registers + features + unfeatures + deletes + keeps
    }

    private func orderedUnique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}
