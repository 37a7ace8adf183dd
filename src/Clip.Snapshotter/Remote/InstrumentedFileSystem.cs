using System.Diagnostics;
using System.Diagnostics.Metrics;
using Clip.Fuse;
using Clip.Interop;

namespace Clip.Snapshotter.Remote;

/// <summary>FUSE operation counters and latency, on the Meter "Clip.FileSystem" (label: op; a fixed set).</summary>
public sealed class FileSystemMetrics : IDisposable
{
    private readonly Meter _meter = new("Clip.FileSystem");

    public FileSystemMetrics()
    {
        Operations = _meter.CreateCounter<long>("clip.fuse.operations", description: "FUSE requests served by layer trees, by op");
        Errors = _meter.CreateCounter<long>("clip.fuse.errors", description: "FUSE requests answered with an errno other than ENOENT/ENODATA, by op");
        Latency = _meter.CreateHistogram<double>("clip.fuse.latency", "s", "Time to serve FUSE requests, by op");
        ReadBytes = _meter.CreateCounter<long>("clip.fuse.read_bytes", "By", "Bytes returned by FUSE reads");
    }

    public Counter<long> Operations { get; }
    public Counter<long> Errors { get; }
    public Histogram<double> Latency { get; }
    public Counter<long> ReadBytes { get; }

    public void Dispose() => _meter.Dispose();
}

/// <summary>Wraps a layer tree to count and time what the kernel asks of it.</summary>
public sealed class InstrumentedFileSystem(IFuseFileSystem inner, FileSystemMetrics metrics) : IFuseFileSystem
{
    private static readonly KeyValuePair<string, object?> OpLookup = new("op", "lookup"), OpGetAttr = new("op", "getattr"),
        OpReadLink = new("op", "readlink"), OpOpen = new("op", "open"), OpRead = new("op", "read"), OpReadDir = new("op", "readdir"),
        OpGetXattr = new("op", "getxattr"), OpListXattr = new("op", "listxattr"), OpStatFs = new("op", "statfs");

    private Errno Done(Errno rc, long start, KeyValuePair<string, object?> op)
    {
        metrics.Operations.Add(1, op);
        metrics.Latency.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, op);
        if (rc != 0 && rc is not (Errno.ENOENT or Errno.ENODATA)) metrics.Errors.Add(1, op);
        return rc;
    }

    public Errno Lookup(NodeId parent, ReadOnlySpan<byte> name, out NodeEntry entry)
    {
        long t = Stopwatch.GetTimestamp();
        return Done(inner.Lookup(parent, name, out entry), t, OpLookup);
    }

    public Errno GetAttributes(NodeId node, out NodeAttributes attributes)
    {
        long t = Stopwatch.GetTimestamp();
        return Done(inner.GetAttributes(node, out attributes), t, OpGetAttr);
    }

    public Errno ReadLink(NodeId node, Span<byte> destination, out int length)
    {
        long t = Stopwatch.GetTimestamp();
        return Done(inner.ReadLink(node, destination, out length), t, OpReadLink);
    }

    public Errno Open(NodeId node, int flags, out ulong handle)
    {
        long t = Stopwatch.GetTimestamp();
        return Done(inner.Open(node, flags, out handle), t, OpOpen);
    }

    public async ValueTask<int> ReadAsync(NodeId node, ulong handle, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        long t = Stopwatch.GetTimestamp();
        try
        {
            int n = await inner.ReadAsync(node, handle, offset, buffer, cancellationToken).ConfigureAwait(false);
            metrics.ReadBytes.Add(n);
            Done(0, t, OpRead);
            return n;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Done(e is FuseException fe ? fe.Errno : Errno.EIO, t, OpRead);
            throw;
        }
    }

    public void Release(NodeId node, ulong handle) => inner.Release(node, handle);

    public Errno OpenDirectory(NodeId node, out ulong handle) => inner.OpenDirectory(node, out handle);

    public Errno ReadDirectory(NodeId node, ulong handle, ulong offset, ref DirectoryWriter writer)
    {
        long t = Stopwatch.GetTimestamp();
        return Done(inner.ReadDirectory(node, handle, offset, ref writer), t, OpReadDir);
    }

    public void ReleaseDirectory(NodeId node, ulong handle) => inner.ReleaseDirectory(node, handle);

    public Errno GetExtendedAttribute(NodeId node, ReadOnlySpan<byte> name, Span<byte> destination, out int length)
    {
        long t = Stopwatch.GetTimestamp();
        return Done(inner.GetExtendedAttribute(node, name, destination, out length), t, OpGetXattr);
    }

    public Errno ListExtendedAttributes(NodeId node, Span<byte> destination, out int length)
    {
        long t = Stopwatch.GetTimestamp();
        return Done(inner.ListExtendedAttributes(node, destination, out length), t, OpListXattr);
    }

    public Errno GetStatistics(NodeId node, out FileSystemStatistics statistics)
    {
        long t = Stopwatch.GetTimestamp();
        return Done(inner.GetStatistics(node, out statistics), t, OpStatFs);
    }

    public void Forget(NodeId node, ulong lookups) => inner.Forget(node, lookups);
}
