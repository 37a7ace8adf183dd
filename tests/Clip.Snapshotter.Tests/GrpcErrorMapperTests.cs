using Clip.Snapshots;
using Clip.Snapshotter.Grpc;
using Grpc.Core;

namespace Clip.Snapshotter.Tests;

/// <summary>Errors reach containerd as the status codes its errdefs.FromGRPC turns back into error classes.</summary>
public class GrpcErrorMapperTests
{
    public static TheoryData<Exception, StatusCode> Cases => new()
    {
        { new SnapshotNotFoundException("snapshot a: not found"), StatusCode.NotFound },
        { new SnapshotAlreadyExistsException("target snapshot sha256:x: already exists"), StatusCode.AlreadyExists },
        { new SnapshotFailedPreconditionException("cannot remove snapshot with child"), StatusCode.FailedPrecondition },
        { new SnapshotInvalidArgumentException("cannot update \"parent\" field"), StatusCode.InvalidArgument },
        { new OperationCanceledException(), StatusCode.Cancelled },
        { new IOException("disk full"), StatusCode.Unknown },
        { new InvalidOperationException("bug"), StatusCode.Unknown },
        { new RpcException(new Status(StatusCode.Unavailable, "x")), StatusCode.Unavailable },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_error_class_has_its_status_code(Exception error, StatusCode expected)
    {
        Assert.Equal(expected, GrpcErrorMapper.ToStatusCode(error));
        var rpc = GrpcErrorMapper.ToRpcException(error);
        Assert.Equal(expected, rpc.StatusCode);
        if (error is not RpcException) Assert.Equal(error.Message, rpc.Status.Detail);
    }
}
