using Microsoft.Data.Sqlite;

namespace Clip.Snapshots.Storage;

/// <summary>
/// The snapshot metadata database (<c>&lt;root&gt;/metadata.db</c>, SQLite in WAL mode with foreign
/// keys and synchronous=FULL). Every change runs in one <see cref="MetadataTransaction"/>; a crash
/// before its commit leaves the database as it was. This plays the part of containerd's
/// snapshots/storage (bolt) MetaStore.
/// </summary>
internal sealed class MetadataStore : IDisposable
{
    /// <summary>Schema version stored in PRAGMA user_version; newer databases are refused.</summary>
    public const int SchemaVersion = 1;

    private readonly string _connectionString;

    private MetadataStore(string path, bool existed)
    {
        Path = path;
        Existed = existed;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            DefaultTimeout = 30,
            Pooling = true,
        }.ToString();
    }

    public string Path { get; }

    /// <summary>Whether the database held clip's schema before this process opened it.</summary>
    public bool Existed { get; }

    /// <summary>Opens (creating if needed) the database at <paramref name="path"/> and brings its schema up.</summary>
    /// <exception cref="InvalidDataException">The database was written by a newer clip.</exception>
    public static MetadataStore Open(string path)
    {
        bool fileExisted = File.Exists(path);
        var probe = new MetadataStore(path, existed: false);
        int version;
        using (var conn = probe.OpenConnection())
        {
            Exec(conn, "PRAGMA journal_mode=WAL;");
            version = Convert.ToInt32(Scalar(conn, "PRAGMA user_version;"));
            if (version > SchemaVersion)
                throw new InvalidDataException($"{path}: metadata schema version {version} is newer than this clip supports ({SchemaVersion})");
            if (version == 0)
            {
                using var tx = conn.BeginTransaction();
                Exec(conn, Schema.V1, tx);
                Exec(conn, $"PRAGMA user_version = {SchemaVersion};", tx);
                tx.Commit();
            }
        }
        return new MetadataStore(path, existed: fileExisted && version > 0);
    }

    /// <summary>A read transaction: a consistent view, never blocking writers (WAL).</summary>
    public MetadataTransaction BeginRead() => new(OpenConnection(), write: false);

    /// <summary>A write transaction (BEGIN IMMEDIATE); disposing it without <see cref="MetadataTransaction.Commit"/> rolls back.</summary>
    public MetadataTransaction BeginWrite() => new(OpenConnection(), write: true);

    /// <summary>
    /// Hands out a snapshot id in its own committed transaction, so an id is never given twice even
    /// when the transaction that used it died: a half-made directory can never collide with a new one.
    /// Call it before opening the write transaction that uses the id (SQLite has one writer).
    /// </summary>
    public long ReserveId()
    {
        using var conn = OpenConnection();
        using var tx = conn.BeginTransaction(deferred: false);
        using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "UPDATE id_sequence SET next_id = next_id + 1 RETURNING next_id - 1;";
        long id = Convert.ToInt64(cmd.ExecuteScalar());
        tx.Commit();
        return id;
    }

    private SqliteConnection OpenConnection()
    {
        var conn = new SqliteConnection(_connectionString);
        conn.Open();
        // Durable at commit, not only at checkpoint: "a crash loses nothing" includes power loss.
        Exec(conn, "PRAGMA synchronous=FULL;");
        return conn;
    }

    internal static void Exec(SqliteConnection conn, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection conn, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    public void Dispose()
    {
        using var conn = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(conn);
    }

    private static class Schema
    {
        public const string V1 = """
            CREATE TABLE snapshots (
                id          INTEGER PRIMARY KEY,
                name        TEXT    NOT NULL UNIQUE,
                kind        INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
                parent_id   INTEGER REFERENCES snapshots(id) ON DELETE RESTRICT,
                created     INTEGER NOT NULL,
                updated     INTEGER NOT NULL,
                size        INTEGER NOT NULL DEFAULT 0,
                inodes      INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX snapshots_parent ON snapshots(parent_id);
            CREATE TABLE labels (
                snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                key         TEXT    NOT NULL,
                value       TEXT    NOT NULL,
                PRIMARY KEY (snapshot_id, key)
            ) WITHOUT ROWID;
            CREATE TABLE remote_layers (
                snapshot_id INTEGER PRIMARY KEY REFERENCES snapshots(id) ON DELETE CASCADE,
                labels      TEXT    NOT NULL,
                state       INTEGER NOT NULL,
                detail      TEXT    NOT NULL DEFAULT ''
            );
            CREATE TABLE id_sequence (next_id INTEGER NOT NULL);
            INSERT INTO id_sequence (next_id) VALUES (1);
            """;
    }
}
