import Core
import Storage

/// The catalog database: templates, their versions (with the signed manifest as served), the chunks each
/// version references (``VersionDigests``), publishes in progress, and every catalog ever signed.
enum RepositorySchema {
    static let migrations: [Migration] = [
        Migration(
            version: 1,
            [
                """
                CREATE TABLE templates (
                    name TEXT PRIMARY KEY,
                    created TEXT NOT NULL
                )
                """,
                """
                CREATE TABLE versions (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL REFERENCES templates(name),
                    version TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('published', 'deprecated', 'withdrawn')),
                    format TEXT NOT NULL,
                    hypervisor TEXT NOT NULL,
                    os_type TEXT NOT NULL,
                    display_text TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    chunk_count INTEGER NOT NULL,
                    manifest TEXT NOT NULL,
                    manifest_digest TEXT NOT NULL,
                    published TEXT NOT NULL,
                    changed TEXT NOT NULL,
                    UNIQUE (name, version)
                )
                """,
                """
                CREATE TABLE version_chunks (
                    version_seq INTEGER NOT NULL REFERENCES versions(seq),
                    position INTEGER NOT NULL,
                    digest TEXT NOT NULL,
                    "offset" INTEGER NOT NULL,
                    length INTEGER NOT NULL,
                    PRIMARY KEY (version_seq, position)
                )
                """,
                "CREATE INDEX version_chunks_digest ON version_chunks (digest)",
                """
                CREATE TABLE publishes (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    version TEXT NOT NULL,
                    started TEXT NOT NULL,
                    updated TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('running', 'committed', 'failed')),
                    error TEXT
                )
                """,
                """
                CREATE TABLE catalogs (
                    serial INTEGER PRIMARY KEY,
                    issued TEXT NOT NULL,
                    expires TEXT NOT NULL,
                    document TEXT NOT NULL
                )
                """,
            ]),
        Migration(
            version: 2,
            [
                """
                CREATE TABLE site_reports (
                    site TEXT NOT NULL,
                    template TEXT NOT NULL,
                    version TEXT NOT NULL,
                    state TEXT NOT NULL,
                    bytes_downloaded INTEGER NOT NULL,
                    bytes_reused INTEGER NOT NULL,
                    error TEXT,
                    reported TEXT NOT NULL,
                    PRIMARY KEY (site, template, version)
                )
                """
            ]),
        // One row per version holding its chunk digests (concatenated hex, in image order) instead of one row
        // per chunk: committing a 2 GiB image's 16,000 rows took half a second; garbage collection, the only
        // reader, wants the digest set anyway.
        Migration(
            version: 3,
            [
                """
                CREATE TABLE version_digests (
                    version_seq INTEGER PRIMARY KEY REFERENCES versions(seq),
                    digests TEXT NOT NULL
                )
                """,
                """
                INSERT INTO version_digests (version_seq, digests)
                SELECT version_seq, group_concat(digest, '') FROM (SELECT version_seq, digest FROM version_chunks ORDER BY version_seq, position) AS ordered
                GROUP BY version_seq
                """,
                "DROP TABLE version_chunks",
            ]),
        // Partner-only templates, and the chunks only they reference (served to authenticated callers only).
        Migration(
            version: 4,
            [
                "ALTER TABLE templates ADD COLUMN partner_only INTEGER NOT NULL DEFAULT 0",
                "CREATE TABLE restricted_chunks (digest TEXT PRIMARY KEY)",
            ]),
    ]
}
