using Clip.Snapshots;
using Grpc.Core;

namespace Clip.Snapshotter.Grpc;

/// <summary>
/// The one place where errors become gRPC statuses, as containerd's errdefs.ToGRPC does: containerd's
/// proxy client turns the code back into errdefs.ErrNotFound, ErrAlreadyExists, ... (errdefs.FromGRPC).
/// </summary>
public static class GrpcErrorMapper
{
    /// <summary>The status code for <paramref name="error"/>; anything not of the snapshot family is Unknown, as in containerd.</summary>
    public static StatusCode ToStatusCode(Exception error) => error switch
    {
        SnapshotException s => s.Kind switch
        {
            SnapshotErrorKind.NotFound => StatusCode.NotFound,
            SnapshotErrorKind.AlreadyExists => StatusCode.AlreadyExists,
            SnapshotErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
            SnapshotErrorKind.InvalidArgument => StatusCode.InvalidArgument,
            _ => StatusCode.Unknown,
        },
        RpcException rpc => rpc.StatusCode,
        OperationCanceledException => StatusCode.Cancelled,
        _ => StatusCode.Unknown,
    };

    /// <summary>The exception to throw from a gRPC handler for <paramref name="error"/>; the message says what failed and on which key.</summary>
    public static RpcException ToRpcException(Exception error) =>
        error as RpcException ?? new RpcException(new Status(ToStatusCode(error), error.Message, error));
}
