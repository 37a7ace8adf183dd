using Clip.Snapshots;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Proto = Clip.Snapshotter.Protos.Snapshots;
using ProtoTypes = Clip.Snapshotter.Protos.Types;

namespace Clip.Snapshotter.Grpc;

/// <summary>Conversions between the wire messages and the snapshotter's types (containerd contrib/snapshotservice fromInfo/toInfo).</summary>
internal static class ProtoConvert
{
    public static IReadOnlyDictionary<string, string> Labels(MapField<string, string> labels) =>
        new Dictionary<string, string>(labels, StringComparer.Ordinal);

    public static IEnumerable<ProtoTypes.Mount> Mounts(IEnumerable<MountSpec> mounts) => mounts.Select(m =>
    {
        var pm = new ProtoTypes.Mount { Type = m.Type, Source = m.Source };
        pm.Options.AddRange(m.Options);
        return pm;
    });

    public static Proto.Info Info(SnapshotInfo info)
    {
        var p = new Proto.Info
        {
            Name = info.Name,
            Parent = info.Parent,
            Kind = Kind(info.Kind),
            CreatedAt = Timestamp.FromDateTime(DateTime.SpecifyKind(info.CreatedUtc, DateTimeKind.Utc)),
            UpdatedAt = Timestamp.FromDateTime(DateTime.SpecifyKind(info.UpdatedUtc, DateTimeKind.Utc)),
        };
        foreach (var (k, v) in info.Labels) p.Labels[k] = v;
        return p;
    }

    public static SnapshotInfo Info(Proto.Info? p)
    {
        p ??= new Proto.Info();
        return new SnapshotInfo(p.Name, p.Parent, Kind(p.Kind),
            p.CreatedAt?.ToDateTime() ?? default, p.UpdatedAt?.ToDateTime() ?? default, Labels(p.Labels));
    }

    public static Proto.Kind Kind(SnapshotKind kind) => kind switch
    {
        SnapshotKind.View => Proto.Kind.View,
        SnapshotKind.Active => Proto.Kind.Active,
        SnapshotKind.Committed => Proto.Kind.Committed,
        _ => Proto.Kind.Unknown,
    };

    public static SnapshotKind Kind(Proto.Kind kind) => kind switch
    {
        Proto.Kind.View => SnapshotKind.View,
        Proto.Kind.Active => SnapshotKind.Active,
        Proto.Kind.Committed => SnapshotKind.Committed,
        _ => SnapshotKind.Unknown,
    };
}
