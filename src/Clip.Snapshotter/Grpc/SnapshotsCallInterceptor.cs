using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace Clip.Snapshotter.Grpc;

/// <summary>
/// Wraps every Snapshots call: maps any exception through <see cref="GrpcErrorMapper"/> (so the
/// service stays proto → call → proto), counts the call by method and code, logs it.
/// </summary>
public sealed class SnapshotsCallInterceptor(SnapshotterMetrics metrics, ILogger<SnapshotsCallInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        string method = MethodName(context.Method);
        long start = Stopwatch.GetTimestamp();
        try
        {
            var response = await continuation(request, context);
            Completed(method, StatusCode.OK, start);
            return response;
        }
        catch (Exception e)
        {
            throw Failed(method, e, start);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        string method = MethodName(context.Method);
        long start = Stopwatch.GetTimestamp();
        try
        {
            await continuation(request, responseStream, context);
            Completed(method, StatusCode.OK, start);
        }
        catch (Exception e)
        {
            throw Failed(method, e, start);
        }
    }

    private void Completed(string method, StatusCode code, long start)
    {
        var elapsed = Stopwatch.GetElapsedTime(start);
        metrics.RecordCall(method, code, elapsed);
        Log.CallCompleted(logger, method, code.ToString(), elapsed.TotalMilliseconds);
    }

    private RpcException Failed(string method, Exception e, long start)
    {
        var rpc = GrpcErrorMapper.ToRpcException(e);
        metrics.RecordCall(method, rpc.StatusCode, Stopwatch.GetElapsedTime(start));
        if (rpc.StatusCode is StatusCode.Unknown or StatusCode.Internal)
            Log.CallFailed(logger, e, method);
        else
            Log.CallRefused(logger, method, rpc.StatusCode.ToString(), rpc.Status.Detail);
        return rpc;
    }

    /// <summary>"/containerd.services.snapshots.v1.Snapshots/Prepare" → "Prepare" (a bounded label set).</summary>
    private static string MethodName(string fullMethod)
    {
        int slash = fullMethod.LastIndexOf('/');
        return slash >= 0 ? fullMethod[(slash + 1)..] : fullMethod;
    }
}
