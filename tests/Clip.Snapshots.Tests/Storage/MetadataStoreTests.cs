using Clip.Snapshots.Storage;
using Clip.Testing;
using Microsoft.Data.Sqlite;

namespace Clip.Snapshots.Tests.Storage;

/// <summary>The metadata database: one transaction per change, durable settings, versioned schema.</summary>
public class MetadataStoreTests
{
    private static readonly Dictionary<string, string> NoLabels = [];

    [Fact]
    public void A_change_that_is_not_committed_leaves_nothing()
    {
        using var dir = new TempDir();
        using var store = MetadataStore.Open(dir.Combine("metadata.db"));
        long id = store.ReserveId();
        using (var tx = store.BeginWrite())
        {
            tx.Insert(id, "a", SnapshotKind.Active, null, DateTime.UtcNow, new Dictionary<string, string> { ["k"] = "v" });
            Assert.NotNull(tx.Find("a"));
            // disposed without Commit: a crash or an exception before the commit
        }
        using var read = store.BeginRead();
        Assert.Null(read.Find("a"));
        Assert.Empty(read.All());
    }

    [Fact]
    public void A_failing_statement_rolls_back_the_whole_transaction()
    {
        using var dir = new TempDir();
        using var store = MetadataStore.Open(dir.Combine("metadata.db"));
        using (var tx = store.BeginWrite())
        {
            tx.Insert(1, "a", SnapshotKind.Committed, null, DateTime.UtcNow, NoLabels);
            tx.Commit();
        }
        using (var tx = store.BeginWrite())
        {
            tx.Insert(2, "b", SnapshotKind.Active, 1, DateTime.UtcNow, NoLabels);
            Assert.Throws<SqliteException>(() => tx.Insert(3, "a", SnapshotKind.Active, null, DateTime.UtcNow, NoLabels)); // name taken
        }
        using var read = store.BeginRead();
        Assert.Equal(["a"], read.All().Select(r => r.Name));
    }

    [Fact]
    public void Foreign_keys_protect_parents_and_cascade_labels()
    {
        using var dir = new TempDir();
        using var store = MetadataStore.Open(dir.Combine("metadata.db"));
        using var tx = store.BeginWrite();
        tx.Insert(1, "p", SnapshotKind.Committed, null, DateTime.UtcNow, new Dictionary<string, string> { ["k"] = "v" });
        tx.Insert(2, "c", SnapshotKind.Active, 1, DateTime.UtcNow, NoLabels);
        Assert.Throws<SqliteException>(() => tx.Delete(1));
        Assert.Throws<SqliteException>(() => tx.Insert(3, "orphan", SnapshotKind.Active, 42, DateTime.UtcNow, NoLabels));
        tx.Delete(2);
        tx.Delete(1);
        tx.Commit();
    }

    [Fact]
    public void Ids_are_never_handed_out_twice_even_when_their_transaction_died()
    {
        using var dir = new TempDir();
        long first;
        using (var store = MetadataStore.Open(dir.Combine("metadata.db")))
        {
            first = store.ReserveId();
            using var tx = store.BeginWrite(); // uses the id, then "crashes"
            tx.Insert(first, "a", SnapshotKind.Active, null, DateTime.UtcNow, NoLabels);
        }
        using var reopened = MetadataStore.Open(dir.Combine("metadata.db"));
        Assert.True(reopened.ReserveId() > first);
    }

    [Fact]
    public void The_database_runs_in_wal_mode_and_is_versioned()
    {
        using var dir = new TempDir();
        string path = dir.Combine("metadata.db");
        using (var store = MetadataStore.Open(path)) Assert.False(store.Existed);
        using (var store = MetadataStore.Open(path)) Assert.True(store.Existed);
        using var conn = new SqliteConnection($"Data Source={path};Pooling=False");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", cmd.ExecuteScalar());
        cmd.CommandText = "PRAGMA user_version";
        Assert.Equal((long)MetadataStore.SchemaVersion, cmd.ExecuteScalar());
    }

    [Fact]
    public void A_database_from_a_newer_clip_is_refused()
    {
        using var dir = new TempDir();
        string path = dir.Combine("metadata.db");
        using (var conn = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = "PRAGMA user_version = 99";
            cmd.ExecuteNonQuery();
        }
        var e = Assert.Throws<InvalidDataException>(() => MetadataStore.Open(path));
        Assert.Contains("99", e.Message);
    }

    [Fact]
    public void Labels_with_empty_values_are_not_stored()
    {
        using var dir = new TempDir();
        using var store = MetadataStore.Open(dir.Combine("metadata.db"));
        using var tx = store.BeginWrite();
        tx.Insert(1, "a", SnapshotKind.Active, null, DateTime.UtcNow, new Dictionary<string, string> { ["keep"] = "1", ["drop"] = "" });
        Assert.Equal(["keep"], tx.Get("a").Labels.Keys);
    }
}
