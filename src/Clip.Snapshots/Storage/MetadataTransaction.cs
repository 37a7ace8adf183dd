using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Clip.Snapshots.Storage;

/// <summary>A snapshot row with its labels and its parent's name.</summary>
internal sealed record SnapshotRecord(
    long Id,
    string Name,
    SnapshotKind Kind,
    long? ParentId,
    string ParentName,
    DateTime CreatedUtc,
    DateTime UpdatedUtc,
    SnapshotUsage Usage,
    IReadOnlyDictionary<string, string> Labels)
{
    public SnapshotInfo ToInfo() => new(Name, ParentName, Kind, CreatedUtc, UpdatedUtc, Labels);
}

/// <summary>Where a remote layer's tree stands.</summary>
internal enum RemoteLayerState
{
    /// <summary>Prepare asked the filesystem to mount it and has not committed yet (a crash here is undone at start).</summary>
    Mounting = 0,
    /// <summary>Committed and served.</summary>
    Mounted = 1,
    /// <summary>Committed, but the filesystem could not restore it; children cannot be mounted until it can.</summary>
    Unavailable = 2,
}

/// <summary>The remote_layers row of a snapshot.</summary>
internal sealed record RemoteLayerRecord(long SnapshotId, IReadOnlyDictionary<string, string> Labels, RemoteLayerState State, string Detail);

/// <summary>One transaction over the metadata database; all snapshot queries and changes go through it.</summary>
internal sealed class MetadataTransaction : IDisposable
{
    private readonly SqliteConnection _conn;
    private readonly SqliteTransaction _tx;
    private bool _done;

    internal MetadataTransaction(SqliteConnection conn, bool write)
    {
        _conn = conn;
        _tx = conn.BeginTransaction(deferred: !write);
    }

    public void Commit()
    {
        _tx.Commit();
        _done = true;
    }

    public void Dispose()
    {
        if (!_done)
        {
            try { _tx.Rollback(); } catch (SqliteException) { }
        }
        _tx.Dispose();
        _conn.Dispose();
    }

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] args)
    {
        var cmd = _conn.CreateCommand();
        cmd.Transaction = _tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    private const string SelectSnapshot =
        "SELECT s.id, s.name, s.kind, s.parent_id, COALESCE(p.name, ''), s.created, s.updated, s.size, s.inodes " +
        "FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id";

    /// <summary>The snapshot named <paramref name="name"/>, or null.</summary>
    public SnapshotRecord? Find(string name)
    {
        using var cmd = Command(SelectSnapshot + " WHERE s.name = $name", ("$name", name));
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        var row = ReadRow(r);
        return row with { Labels = LabelsOf(row.Id) };
    }

    /// <summary>The snapshot named <paramref name="name"/>.</summary>
    /// <exception cref="SnapshotNotFoundException">There is none.</exception>
    public SnapshotRecord Get(string name) =>
        Find(name) ?? throw new SnapshotNotFoundException($"snapshot {name}: not found");

    /// <summary>The name of snapshot <paramref name="id"/>, or null.</summary>
    public string? NameOf(long id)
    {
        using var cmd = Command("SELECT name FROM snapshots WHERE id = $id", ("$id", id));
        return cmd.ExecuteScalar() as string;
    }

    /// <summary>Every snapshot with its labels.</summary>
    public List<SnapshotRecord> All()
    {
        var labels = new Dictionary<long, Dictionary<string, string>>();
        using (var cmd = Command("SELECT snapshot_id, key, value FROM labels"))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                long id = r.GetInt64(0);
                if (!labels.TryGetValue(id, out var map)) labels[id] = map = new Dictionary<string, string>(StringComparer.Ordinal);
                map[r.GetString(1)] = r.GetString(2);
            }
        }
        var result = new List<SnapshotRecord>();
        using (var cmd = Command(SelectSnapshot + " ORDER BY s.id"))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var row = ReadRow(r);
                result.Add(labels.TryGetValue(row.Id, out var map) ? row with { Labels = map } : row);
            }
        }
        return result;
    }

    /// <summary>Ids of every snapshot (the directories that must exist).</summary>
    public HashSet<long> AllIds()
    {
        var ids = new HashSet<long>();
        using var cmd = Command("SELECT id FROM snapshots");
        using var r = cmd.ExecuteReader();
        while (r.Read()) ids.Add(r.GetInt64(0));
        return ids;
    }

    /// <summary>Count of snapshots per kind.</summary>
    public Dictionary<SnapshotKind, int> CountByKind()
    {
        var counts = new Dictionary<SnapshotKind, int>();
        using var cmd = Command("SELECT kind, COUNT(*) FROM snapshots GROUP BY kind");
        using var r = cmd.ExecuteReader();
        while (r.Read()) counts[(SnapshotKind)r.GetInt32(0)] = r.GetInt32(1);
        return counts;
    }

    /// <summary>Ids of <paramref name="id"/> and its ancestors, nearest first (containerd's ParentIDs of a child).</summary>
    public List<long> Chain(long id)
    {
        using var cmd = Command("""
            WITH RECURSIVE chain(id, parent_id, depth) AS (
                SELECT id, parent_id, 0 FROM snapshots WHERE id = $id
                UNION ALL
                SELECT s.id, s.parent_id, c.depth + 1 FROM snapshots s JOIN chain c ON s.id = c.parent_id
            )
            SELECT id FROM chain ORDER BY depth
            """, ("$id", id));
        using var r = cmd.ExecuteReader();
        var ids = new List<long>();
        while (r.Read()) ids.Add(r.GetInt64(0));
        return ids;
    }

    public bool HasChildren(long id)
    {
        using var cmd = Command("SELECT EXISTS (SELECT 1 FROM snapshots WHERE parent_id = $id)", ("$id", id));
        return Convert.ToInt64(cmd.ExecuteScalar()) != 0;
    }

    public void Insert(long id, string name, SnapshotKind kind, long? parentId, DateTime createdUtc, IReadOnlyDictionary<string, string> labels)
    {
        using (var cmd = Command(
            "INSERT INTO snapshots (id, name, kind, parent_id, created, updated) VALUES ($id, $name, $kind, $parent, $t, $t)",
            ("$id", id), ("$name", name), ("$kind", (int)kind), ("$parent", parentId), ("$t", createdUtc.Ticks)))
        {
            cmd.ExecuteNonQuery();
        }
        WriteLabels(id, labels);
    }

    /// <summary>Turns active snapshot <paramref name="id"/> into committed <paramref name="name"/> (same id, same directory).</summary>
    public void Commit(long id, string name, long? parentId, DateTime createdUtc, SnapshotUsage usage, IReadOnlyDictionary<string, string> labels)
    {
        using (var cmd = Command(
            "UPDATE snapshots SET name = $name, kind = $kind, parent_id = $parent, created = $t, updated = $t, size = $size, inodes = $inodes WHERE id = $id",
            ("$id", id), ("$name", name), ("$kind", (int)SnapshotKind.Committed), ("$parent", parentId), ("$t", createdUtc.Ticks),
            ("$size", usage.Size), ("$inodes", usage.Inodes)))
        {
            cmd.ExecuteNonQuery();
        }
        WriteLabels(id, labels);
    }

    public void UpdateLabels(long id, IReadOnlyDictionary<string, string> labels, DateTime updatedUtc)
    {
        using (var cmd = Command("UPDATE snapshots SET updated = $t WHERE id = $id", ("$id", id), ("$t", updatedUtc.Ticks)))
            cmd.ExecuteNonQuery();
        WriteLabels(id, labels);
    }

    public void Delete(long id)
    {
        using var cmd = Command("DELETE FROM snapshots WHERE id = $id", ("$id", id));
        cmd.ExecuteNonQuery();
    }

    public RemoteLayerRecord? FindRemote(long snapshotId)
    {
        using var cmd = Command("SELECT snapshot_id, labels, state, detail FROM remote_layers WHERE snapshot_id = $id", ("$id", snapshotId));
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadRemote(r) : null;
    }

    /// <summary>The remote rows of the given snapshots (a parent chain), by snapshot id.</summary>
    public Dictionary<long, RemoteLayerRecord> RemoteOf(IReadOnlyCollection<long> ids)
    {
        var result = new Dictionary<long, RemoteLayerRecord>();
        if (ids.Count == 0) return result;
        foreach (var rec in AllRemote())
            if (ids.Contains(rec.SnapshotId)) result[rec.SnapshotId] = rec;
        return result;
    }

    public List<RemoteLayerRecord> AllRemote()
    {
        using var cmd = Command("SELECT snapshot_id, labels, state, detail FROM remote_layers ORDER BY snapshot_id");
        using var r = cmd.ExecuteReader();
        var list = new List<RemoteLayerRecord>();
        while (r.Read()) list.Add(ReadRemote(r));
        return list;
    }

    public void InsertRemote(long snapshotId, IReadOnlyDictionary<string, string> labels, RemoteLayerState state)
    {
        using var cmd = Command("INSERT INTO remote_layers (snapshot_id, labels, state) VALUES ($id, $labels, $state)",
            ("$id", snapshotId), ("$labels", JsonSerializer.Serialize(labels)), ("$state", (int)state));
        cmd.ExecuteNonQuery();
    }

    public void SetRemoteState(long snapshotId, RemoteLayerState state, string detail)
    {
        using var cmd = Command("UPDATE remote_layers SET state = $state, detail = $detail WHERE snapshot_id = $id",
            ("$id", snapshotId), ("$state", (int)state), ("$detail", detail));
        cmd.ExecuteNonQuery();
    }

    public void DeleteRemote(long snapshotId)
    {
        using var cmd = Command("DELETE FROM remote_layers WHERE snapshot_id = $id", ("$id", snapshotId));
        cmd.ExecuteNonQuery();
    }

    private void WriteLabels(long id, IReadOnlyDictionary<string, string> labels)
    {
        using (var del = Command("DELETE FROM labels WHERE snapshot_id = $id", ("$id", id)))
            del.ExecuteNonQuery();
        using var ins = Command("INSERT INTO labels (snapshot_id, key, value) VALUES ($id, $key, $value)", ("$id", id), ("$key", ""), ("$value", ""));
        foreach (var (k, v) in labels)
        {
            if (v.Length == 0) continue; // containerd: an empty value means "no such label"
            ins.Parameters["$key"].Value = k;
            ins.Parameters["$value"].Value = v;
            ins.ExecuteNonQuery();
        }
    }

    private Dictionary<string, string> LabelsOf(long id)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        using var cmd = Command("SELECT key, value FROM labels WHERE snapshot_id = $id", ("$id", id));
        using var r = cmd.ExecuteReader();
        while (r.Read()) map[r.GetString(0)] = r.GetString(1);
        return map;
    }

    private static SnapshotRecord ReadRow(SqliteDataReader r) => new(
        r.GetInt64(0),
        r.GetString(1),
        (SnapshotKind)r.GetInt32(2),
        r.IsDBNull(3) ? null : r.GetInt64(3),
        r.GetString(4),
        new DateTime(r.GetInt64(5), DateTimeKind.Utc),
        new DateTime(r.GetInt64(6), DateTimeKind.Utc),
        new SnapshotUsage(r.GetInt64(7), r.GetInt64(8)),
        EmptyLabels);

    private static RemoteLayerRecord ReadRemote(SqliteDataReader r) => new(
        r.GetInt64(0),
        JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(1)) ?? [],
        (RemoteLayerState)r.GetInt32(2),
        r.GetString(3));

    private static readonly IReadOnlyDictionary<string, string> EmptyLabels = new Dictionary<string, string>();
}
