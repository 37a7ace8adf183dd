using Google.Protobuf.Reflection;
using Proto = Clip.Snapshotter.Protos.Snapshots;
using ProtoTypes = Clip.Snapshotter.Protos.Types;

namespace Clip.Snapshotter.Tests;

/// <summary>
/// Our protos must stay wire-identical to containerd's (api/services/snapshots/v1/snapshots.proto and
/// api/types/mount.proto, 1.6 through 2.2): same package, names and field numbers. The conformance
/// suite checks 1.6 on the wire; this pins every number, including 2.2's CommitSnapshotRequest.parent.
/// </summary>
public class ProtoCompatibilityTests
{
    [Theory]
    [InlineData("PrepareSnapshotRequest", "snapshotter=1 key=2 parent=3 labels=4")]
    [InlineData("PrepareSnapshotResponse", "mounts=1")]
    [InlineData("ViewSnapshotRequest", "snapshotter=1 key=2 parent=3 labels=4")]
    [InlineData("ViewSnapshotResponse", "mounts=1")]
    [InlineData("MountsRequest", "snapshotter=1 key=2")]
    [InlineData("MountsResponse", "mounts=1")]
    [InlineData("RemoveSnapshotRequest", "snapshotter=1 key=2")]
    [InlineData("CommitSnapshotRequest", "snapshotter=1 name=2 key=3 labels=4 parent=5")]
    [InlineData("StatSnapshotRequest", "snapshotter=1 key=2")]
    [InlineData("Info", "name=1 parent=2 kind=3 created_at=4 updated_at=5 labels=6")]
    [InlineData("StatSnapshotResponse", "info=1")]
    [InlineData("UpdateSnapshotRequest", "snapshotter=1 info=2 update_mask=3")]
    [InlineData("UpdateSnapshotResponse", "info=1")]
    [InlineData("ListSnapshotsRequest", "snapshotter=1 filters=2")]
    [InlineData("ListSnapshotsResponse", "info=1")]
    [InlineData("UsageRequest", "snapshotter=1 key=2")]
    [InlineData("UsageResponse", "size=1 inodes=2")]
    [InlineData("CleanupRequest", "snapshotter=1")]
    public void Snapshot_messages_have_containerds_field_numbers(string message, string fields)
    {
        var d = Proto.SnapshotsReflection.Descriptor.MessageTypes.Single(m => m.Name == message);
        Assert.Equal("containerd.services.snapshots.v1." + message, d.FullName);
        Assert.Equal(fields, string.Join(' ', d.Fields.InFieldNumberOrder().Select(f => $"{f.Name}={f.FieldNumber}")));
    }

    [Fact]
    public void Mount_kind_and_service_match()
    {
        var mount = ProtoTypes.MountReflection.Descriptor.MessageTypes.Single();
        Assert.Equal("containerd.types.Mount", mount.FullName);
        Assert.Equal("type=1 source=2 target=3 options=4", string.Join(' ', mount.Fields.InFieldNumberOrder().Select(f => $"{f.Name}={f.FieldNumber}")));

        var kind = Proto.SnapshotsReflection.Descriptor.EnumTypes.Single();
        Assert.Equal("containerd.services.snapshots.v1.Kind", kind.FullName);
        Assert.Equal("UNKNOWN=0 VIEW=1 ACTIVE=2 COMMITTED=3", string.Join(' ', kind.Values.Select(v => $"{v.Name}={v.Number}")));

        var service = Proto.SnapshotsReflection.Descriptor.Services.Single();
        Assert.Equal("containerd.services.snapshots.v1.Snapshots", service.FullName);
        Assert.Equal("Prepare View Mounts Commit Remove Stat Update List Usage Cleanup", string.Join(' ', service.Methods.Select(m => m.Name)));
        Assert.True(service.Methods.Single(m => m.Name == "List").IsServerStreaming);
        Assert.Equal("google.protobuf.Empty", service.Methods.Single(m => m.Name == "Commit").OutputType.FullName);
        Assert.Equal(FieldType.Message, Proto.Info.Descriptor.FindFieldByName("created_at").FieldType);
        Assert.Equal("google.protobuf.Timestamp", Proto.Info.Descriptor.FindFieldByName("created_at").MessageType.FullName);
    }
}
