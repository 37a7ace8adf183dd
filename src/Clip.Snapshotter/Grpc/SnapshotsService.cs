using Clip.Snapshots;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Proto = Clip.Snapshotter.Protos.Snapshots;

namespace Clip.Snapshotter.Grpc;

/// <summary>
/// containerd.services.snapshots.v1.Snapshots as a thin adapter (containerd contrib/snapshotservice):
/// proto in, one snapshotter call, proto out. Errors are not handled here: <see cref="SnapshotsCallInterceptor"/>
/// passes every one through <see cref="GrpcErrorMapper"/>. The request's "snapshotter" field names the
/// plugin on containerd's side and is ignored.
/// </summary>
public sealed class SnapshotsService(ISnapshotter snapshotter) : Proto.Snapshots.SnapshotsBase
{
    /// <summary>containerd's service sends List results in batches of this many.</summary>
    private const int ListBatch = 100;

    private static readonly Empty EmptyReply = new();

    public override async Task<Proto.PrepareSnapshotResponse> Prepare(Proto.PrepareSnapshotRequest request, ServerCallContext context)
    {
        var mounts = await snapshotter.PrepareAsync(request.Key, request.Parent, ProtoConvert.Labels(request.Labels), context.CancellationToken);
        return new Proto.PrepareSnapshotResponse { Mounts = { ProtoConvert.Mounts(mounts) } };
    }

    public override async Task<Proto.ViewSnapshotResponse> View(Proto.ViewSnapshotRequest request, ServerCallContext context)
    {
        var mounts = await snapshotter.ViewAsync(request.Key, request.Parent, ProtoConvert.Labels(request.Labels), context.CancellationToken);
        return new Proto.ViewSnapshotResponse { Mounts = { ProtoConvert.Mounts(mounts) } };
    }

    public override async Task<Proto.MountsResponse> Mounts(Proto.MountsRequest request, ServerCallContext context)
    {
        var mounts = await snapshotter.MountsAsync(request.Key, context.CancellationToken);
        return new Proto.MountsResponse { Mounts = { ProtoConvert.Mounts(mounts) } };
    }

    public override async Task<Empty> Commit(Proto.CommitSnapshotRequest request, ServerCallContext context)
    {
        await snapshotter.CommitAsync(request.Name, request.Key, ProtoConvert.Labels(request.Labels), request.Parent, context.CancellationToken);
        return EmptyReply;
    }

    public override async Task<Empty> Remove(Proto.RemoveSnapshotRequest request, ServerCallContext context)
    {
        await snapshotter.RemoveAsync(request.Key, context.CancellationToken);
        return EmptyReply;
    }

    public override async Task<Proto.StatSnapshotResponse> Stat(Proto.StatSnapshotRequest request, ServerCallContext context)
    {
        var info = await snapshotter.StatAsync(request.Key, context.CancellationToken);
        return new Proto.StatSnapshotResponse { Info = ProtoConvert.Info(info) };
    }

    public override async Task<Proto.UpdateSnapshotResponse> Update(Proto.UpdateSnapshotRequest request, ServerCallContext context)
    {
        var paths = request.UpdateMask?.Paths.ToList() ?? [];
        var info = await snapshotter.UpdateAsync(ProtoConvert.Info(request.Info), paths, context.CancellationToken);
        return new Proto.UpdateSnapshotResponse { Info = ProtoConvert.Info(info) };
    }

    public override async Task List(Proto.ListSnapshotsRequest request, IServerStreamWriter<Proto.ListSnapshotsResponse> responseStream, ServerCallContext context)
    {
        var infos = await snapshotter.ListAsync(request.Filters.ToList(), context.CancellationToken);
        foreach (var batch in infos.Chunk(ListBatch))
        {
            var reply = new Proto.ListSnapshotsResponse();
            reply.Info.AddRange(batch.Select(ProtoConvert.Info));
            await responseStream.WriteAsync(reply, context.CancellationToken);
        }
    }

    public override async Task<Proto.UsageResponse> Usage(Proto.UsageRequest request, ServerCallContext context)
    {
        var usage = await snapshotter.UsageAsync(request.Key, context.CancellationToken);
        return new Proto.UsageResponse { Size = usage.Size, Inodes = usage.Inodes };
    }

    public override async Task<Empty> Cleanup(Proto.CleanupRequest request, ServerCallContext context)
    {
        await snapshotter.CleanupAsync(context.CancellationToken);
        return EmptyReply;
    }
}
