import Core
import Foundation
import SQLKit
import Storage

/// Collections and snapshots, stored through SQLKit (tables `dashboard_*`, migrations from 201): the
/// latest state of every region (its health, and its last good snapshot, kept when a collection fails),
/// each region's snapshots within the retention window, and one row per collection with its totals for
/// the history charts.
public struct SnapshotStore: Sendable {
    static let migrations: [Migration] = [
        Migration(
            version: 201,
            [
                """
                CREATE TABLE dashboard_collections (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    started TEXT NOT NULL,
                    seconds REAL NOT NULL,
                    regions INTEGER NOT NULL,
                    failed INTEGER NOT NULL,
                    totals TEXT NOT NULL
                )
                """,
                """
                CREATE TABLE dashboard_region_state (
                    region_id INTEGER PRIMARY KEY,
                    health TEXT NOT NULL,
                    snapshot TEXT,
                    stale INTEGER NOT NULL
                )
                """,
                """
                CREATE TABLE dashboard_snapshots (
                    collection_id INTEGER NOT NULL,
                    region_id INTEGER NOT NULL,
                    collected TEXT NOT NULL,
                    snapshot TEXT NOT NULL,
                    PRIMARY KEY (collection_id, region_id)
                )
                """,
                "CREATE INDEX dashboard_snapshots_collected ON dashboard_snapshots (collected)",
            ]),
        // The names of the regions a collection could not read (a JSON array), so that any instance can answer
        // with the report of a collection another instance ran.
        Migration(version: 202, ["ALTER TABLE dashboard_collections ADD COLUMN failed_regions TEXT"]),
    ]

    /// One point of the history charts.
    public struct HistoryPoint: Codable, Sendable, Hashable {
        public var time: String
        public var totals: [String: CapacityFigure]
        public var runningVirtualMachines: Int
        public var virtualMachines: Int
        /// Regions counted with their last figures because this collection could not read them (absent in old rows).
        public var staleRegions: [String]?
    }

    let database: any SQLStore

    public static func open(database: any SQLStore) async throws -> SnapshotStore {
        try await Migrator(migrations: migrations).apply(to: database)
        return SnapshotStore(database: database)
    }

    /// The latest health and snapshot of each region (keyed by region id).
    public func latest() async throws -> [Int: (health: RegionHealth, snapshot: RegionSnapshot?, stale: Bool)] {
        try await database.withDatabase { db in
            var out: [Int: (RegionHealth, RegionSnapshot?, Bool)] = [:]
            for row in try await db.raw("SELECT * FROM dashboard_region_state").all() {
                let health = try Self.decode(RegionHealth.self, try row.decode(column: "health", as: String.self))
                let snapshot = try (try row.decode(column: "snapshot", as: String?.self)).map { try Self.decode(RegionSnapshot.self, $0) }
                out[try row.decode(column: "region_id", as: Int.self)] = (health, snapshot, try row.decode(column: "stale", as: Int.self) != 0)
            }
            return out
        }
    }

    /// Records one collection: every region's health, the snapshots that succeeded (a region that failed
    /// keeps its previous snapshot, marked stale), the totals, and drops history older than `retention`.
    public func record(
        started: Date, seconds: Double, results: [(regionID: Int, health: RegionHealth, snapshot: RegionSnapshot?)], failed: [String],
        summary: FederationSummary, retention: TimeInterval
    ) async throws {
        let point = HistoryPoint(
            time: Timestamps.string(from: started), totals: summary.totals, runningVirtualMachines: summary.runningVirtualMachines,
            virtualMachines: summary.virtualMachines, staleRegions: summary.staleRegions)
        let totalsJSON = try Self.encode(point)
        let failedJSON = try Self.encode(failed)
        let cutoff = Timestamps.string(from: started.addingTimeInterval(-retention))
        let startedText = Timestamps.string(from: started)
        let encoded = try results.map { ($0.regionID, try Self.encode($0.health), try $0.snapshot.map(Self.encode), $0.snapshot?.collected) }
        try await database.transaction { db in
            try await db.raw(
                """
                INSERT INTO dashboard_collections (started, seconds, regions, failed, totals, failed_regions)
                VALUES (\(bind: startedText), \(bind: seconds), \(bind: results.count), \(bind: results.filter { $0.snapshot == nil }.count), \(bind: totalsJSON), \(bind: failedJSON))
                """
            ).run()
            let id = try await db.raw("SELECT MAX(id) AS id FROM dashboard_collections").first()!.decode(column: "id", as: Int.self)
            for (regionID, health, snapshot, collected) in encoded {
                if let snapshot, let collected {
                    try await db.raw(
                        """
                        INSERT INTO dashboard_region_state (region_id, health, snapshot, stale) VALUES (\(bind: regionID), \(bind: health), \(bind: snapshot), 0)
                        ON CONFLICT (region_id) DO UPDATE SET health = excluded.health, snapshot = excluded.snapshot, stale = 0
                        """
                    ).run()
                    try await db.raw(
                        "INSERT INTO dashboard_snapshots (collection_id, region_id, collected, snapshot) VALUES (\(bind: id), \(bind: regionID), \(bind: collected), \(bind: snapshot))"
                    ).run()
                } else if try await db.raw("SELECT region_id FROM dashboard_region_state WHERE region_id = \(bind: regionID)").first() != nil {
                    try await db.raw("UPDATE dashboard_region_state SET health = \(bind: health), stale = 1 WHERE region_id = \(bind: regionID)")
                        .run()
                } else {
                    try await db.raw(
                        "INSERT INTO dashboard_region_state (region_id, health, snapshot, stale) VALUES (\(bind: regionID), \(bind: health), NULL, 1)"
                    ).run()
                }
            }
            try await db.raw("DELETE FROM dashboard_snapshots WHERE collected < \(bind: cutoff)").run()
            try await db.raw("DELETE FROM dashboard_collections WHERE started < \(bind: cutoff)").run()
        }
    }

    /// The last collection recorded (by any instance on this database): its number, which grows with every
    /// collection, and its report.
    public func lastCollection() async throws -> (id: Int, report: DashboardCollector.Report)? {
        try await database.withDatabase { db in
            guard
                let row = try await db.raw(
                    "SELECT id, started, seconds, regions, failed_regions FROM dashboard_collections ORDER BY id DESC LIMIT 1"
                ).first()
            else { return nil }
            let failed = try (try row.decode(column: "failed_regions", as: String?.self)).map { try Self.decode([String].self, $0) } ?? []
            return (
                try row.decode(column: "id", as: Int.self),
                DashboardCollector.Report(
                    started: try row.decode(column: "started", as: String.self), seconds: try row.decode(column: "seconds", as: Double.self),
                    regions: try row.decode(column: "regions", as: Int.self), failed: failed)
            )
        }
    }

    /// The number of the last collection recorded, 0 before the first: what anything drawn from the stored state
    /// is keyed by, on every instance.
    public func revision() async throws -> Int {
        try await database.withDatabase { db in
            try await db.raw("SELECT MAX(id) AS id FROM dashboard_collections").first()?.decode(column: "id", as: Int?.self) ?? 0
        }
    }

    /// Forgets regions no longer in the registry.
    public func keepOnly(_ regionIDs: Set<Int>) async throws {
        try await database.transaction { db in
            for row in try await db.raw("SELECT region_id FROM dashboard_region_state").all() {
                let id = try row.decode(column: "region_id", as: Int.self)
                if !regionIDs.contains(id) { try await db.raw("DELETE FROM dashboard_region_state WHERE region_id = \(bind: id)").run() }
            }
        }
    }

    /// The totals of the collections since `since`, oldest first.
    public func history(since: Date) async throws -> [HistoryPoint] {
        let from = Timestamps.string(from: since)
        return try await database.withDatabase { db in
            try await db.raw("SELECT totals FROM dashboard_collections WHERE started >= \(bind: from) ORDER BY id").all().map { row in
                try Self.decode(HistoryPoint.self, try row.decode(column: "totals", as: String.self))
            }
        }
    }

    /// A region's stored snapshots, newest first.
    public func snapshots(region: Int, limit: Int = 100) async throws -> [RegionSnapshot] {
        try await database.withDatabase { db in
            try await db.raw(
                "SELECT snapshot FROM dashboard_snapshots WHERE region_id = \(bind: region) ORDER BY collection_id DESC LIMIT \(bind: limit)"
            ).all().map { try Self.decode(RegionSnapshot.self, try $0.decode(column: "snapshot", as: String.self)) }
        }
    }

    static func encode(_ value: some Encodable) throws -> String {
        try OrderedJSONEncoder().encode(value).serialized()
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
