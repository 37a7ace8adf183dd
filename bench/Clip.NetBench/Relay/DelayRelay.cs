using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Collections.Concurrent;

namespace Clip.NetBench.Relay;

/// <summary>
/// A TCP relay in front of the registry that holds every chunk for a fixed one-way delay in each
/// direction (half the round-trip time) and meters the bytes. The delay is a queue, not a sleep
/// between reads: throughput is untouched, only latency is added — every request/response round
/// trip costs one RTT more, as on a WAN. It does not emulate TCP's own dynamics on a long link
/// (slow start sees the near-zero RTT of each hop); bandwidth comes from tc on the veth.
/// </summary>
public sealed class DelayRelay : IAsyncDisposable
{
    private const int ChunkSize = 64 * 1024;
    private const int QueuedChunks = 256; // at most 16 MiB in flight per direction, then TCP back-pressure
    private readonly TcpListener _listener;
    private readonly IPEndPoint _upstream;
    private readonly long _delayTicks;
    private readonly TrafficLog _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Lock _lock = new();
    private Task? _accept;

    public DelayRelay(IPEndPoint listen, IPEndPoint upstream, TimeSpan oneWayDelay, TrafficLog log)
    {
        _listener = new TcpListener(listen);
        _upstream = upstream;
        _delayTicks = (long)(oneWayDelay.TotalSeconds * Stopwatch.Frequency);
        _log = log;
    }

    public IPEndPoint LocalEndpoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Set to see connection failures (e.g. the upstream refusing).</summary>
    public Action<string>? OnError { get; set; }

    public void Start()
    {
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start(512);
        _accept = AcceptLoopAsync();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                OnError?.Invoke($"accept: {e.Message}");
                continue;
            }
            var task = ServeAsync(client);
            lock (_lock)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(task);
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var upstream = new Socket(_upstream.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var clientSocket = client;
        try
        {
            await upstream.ConnectAsync(_upstream, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            OnError?.Invoke($"connect to {_upstream}: {e.Message}");
            return;
        }
        client.NoDelay = true;
        upstream.NoDelay = true;
        var conn = _log.Open();
        using var cut = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        using var onCut = cut.Token.Register(() =>
        {
            // Unblocks the blocking Receive/Send calls of both directions.
            try { client.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            try { upstream.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        });
        var up = Direction(client, upstream, d => { _log.CountUp(d.Length); conn.Requests.Feed(d); }, cut);
        var down = Direction(upstream, client, d => { _log.CountDown(d.Length); conn.Responses.Feed(d); }, cut);
        try
        {
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // a reset on either side ends the connection; the counts so far stand
        }
        finally
        {
            conn.Close();
        }
    }

    /// <summary>
    /// One direction on dedicated threads (blocking socket calls; Thread.Sleep keeps the delay to a
    /// fraction of a millisecond, where timer-based waits overshoot by several): a reader that
    /// meters and queues each chunk with its due time, and a writer that sends it when due. End of
    /// stream becomes a half-close; any failure cuts both directions.
    /// </summary>
    private Task Direction(Socket from, Socket to, Action<ReadOnlySpan<byte>> observe, CancellationTokenSource cut)
    {
        var queue = new BlockingCollection<(byte[] Buffer, int Length, long Due)>(QueuedChunks);
        var reader = Task.Factory.StartNew(() =>
        {
            try
            {
                while (true)
                {
                    byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                    int n = from.Receive(buffer, 0, ChunkSize, SocketFlags.None);
                    if (n == 0)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        break;
                    }
                    observe(buffer.AsSpan(0, n));
                    queue.Add((buffer, n, Stopwatch.GetTimestamp() + _delayTicks), cut.Token);
                }
            }
            catch (Exception)
            {
                cut.Cancel();
                throw;
            }
            finally
            {
                queue.CompleteAdding();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var writer = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (var (buffer, length, due) in queue.GetConsumingEnumerable(cut.Token))
                {
                    try
                    {
                        long wait = due - Stopwatch.GetTimestamp();
                        if (wait > 0) Thread.Sleep(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency));
                        for (int sent = 0; sent < length;) sent += to.Send(buffer, sent, length - sent, SocketFlags.None);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                }
                to.Shutdown(SocketShutdown.Send);
            }
            catch (Exception)
            {
                cut.Cancel();
                throw;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return Task.WhenAll(reader, writer).ContinueWith(t =>
        {
            queue.Dispose();
            t.GetAwaiter().GetResult();
        }, TaskScheduler.Default);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        if (_accept is not null) await _accept.ConfigureAwait(false);
        Task[] running;
        lock (_lock) running = [.. _connections];
        try
        {
            await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // connections cut at shutdown
        }
        _stop.Dispose();
    }
}
