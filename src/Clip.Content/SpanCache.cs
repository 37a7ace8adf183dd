using System.Buffers.Binary;
using Clip.Interop;
using Clip.Oci;
using Microsoft.Win32.SafeHandles;

namespace Clip.Content;

/// <summary>Names one cached span: a layer (by digest) and a span number.</summary>
public readonly record struct SpanKey(Digest Layer, int Span)
{
    public override string ToString() => $"{Layer.Hex[..12]}/{Span}";
}

/// <summary>
/// The local disk cache of decompressed data: for each (layer, span) one file holding the span's
/// uncompressed bytes from its start up to as far as they have been inflated. Files are written
/// to a temp name and renamed; each carries a CRC-32 trailer that is checked the first time a
/// file left by an earlier process is used, so a torn write after a crash is dropped, not served.
/// Names come only from digests and span numbers; the tree is root-only (0700 dirs, 0600 files).
/// Total size is bounded: least recently used spans are evicted.
/// </summary>
public sealed class SpanCache
{
    private const int TrailerSize = 16;
    private static ReadOnlySpan<byte> TrailerMagic => "CLIPSPAN"u8;

    private readonly string _root;
    private readonly long _maxBytes;
    private readonly ContentMetrics? _metrics;
    private readonly Lock _lock = new();
    private readonly Dictionary<SpanKey, Item> _items = [];
    private readonly LinkedList<SpanKey> _lru = [];
    private long _bytes;

    private sealed class Item
    {
        public long Length;          // content bytes (without trailer)
        public bool Verified;        // written by this process, or its CRC checked
        public required LinkedListNode<SpanKey> Node;
    }

    public SpanCache(string root, long maxBytes, ContentMetrics? metrics = null)
    {
        _root = Path.GetFullPath(root);
        _maxBytes = maxBytes;
        _metrics = metrics;
        Directory.CreateDirectory(_root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Scan();
    }

    public string Root => _root;
    public long MaxBytes => _maxBytes;

    /// <summary>Bytes of content currently cached.</summary>
    public long Size
    {
        get { lock (_lock) return _bytes; }
    }

    public int Count
    {
        get { lock (_lock) return _items.Count; }
    }

    /// <summary>How many bytes of the span are cached (0 when none); marks it recently used.</summary>
    public long CachedLength(SpanKey key)
    {
        lock (_lock)
        {
            if (!_items.TryGetValue(key, out var item)) return 0;
            _lru.Remove(item.Node);
            _lru.AddFirst(item.Node);
            return item.Length;
        }
    }

    /// <summary>
    /// Reads cached bytes of a span at <paramref name="offset"/> (relative to the span start).
    /// Returns the count read; fewer than asked (possibly 0) when the cache holds less, e.g. after eviction.
    /// </summary>
    public int Read(SpanKey key, long offset, Span<byte> destination)
    {
        Item? item;
        lock (_lock) _items.TryGetValue(key, out item);
        if (item is null || offset >= item.Length) return 0;
        if (!item.Verified && !Verify(key, item)) return 0;
        int want = (int)Math.Min(destination.Length, item.Length - offset);
        try
        {
            using var h = File.OpenHandle(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            int done = 0;
            while (done < want)
            {
                int n = RandomAccess.Read(h, destination.Slice(done, want - done), offset + done);
                if (n == 0) break;
                done += n;
            }
            return done;
        }
        catch (FileNotFoundException)
        {
            Forget(key);
            return 0;
        }
        catch (DirectoryNotFoundException)
        {
            Forget(key);
            return 0;
        }
    }

    /// <summary>
    /// Replaces the span's cached prefix with a longer one: the first <paramref name="existingLength"/>
    /// bytes are taken from the current file, then <paramref name="more"/> is appended. If the file
    /// changed under us (evicted, or someone else extended it) only a consistent result is kept.
    /// </summary>
    public void Extend(SpanKey key, long existingLength, ReadOnlySpan<byte> more)
    {
        string path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string temp = $"{path}.tmp-{Environment.ProcessId}-{Environment.CurrentManagedThreadId}-{Guid.NewGuid():N}";
        long length = existingLength + more.Length;
        try
        {
            uint crc = 0;
            using (var outStream = new FileStream(temp, new FileStreamOptions
                   {
                       Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None,
                       UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                   }))
            {
                var outHandle = outStream.SafeFileHandle;
                long pos = 0;
                if (existingLength > 0)
                {
                    var buf = new byte[Math.Min(existingLength, 1 << 20)];
                    using var inHandle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    while (pos < existingLength)
                    {
                        int n = RandomAccess.Read(inHandle, buf.AsSpan(0, (int)Math.Min(buf.Length, existingLength - pos)), pos);
                        if (n == 0) throw new FileNotFoundException("cached span shrank", path);
                        crc = ZInflater.Crc32(crc, buf.AsSpan(0, n));
                        RandomAccess.Write(outHandle, buf.AsSpan(0, n), pos);
                        pos += n;
                    }
                }
                RandomAccess.Write(outHandle, more, pos);
                crc = ZInflater.Crc32(crc, more);
                Span<byte> trailer = stackalloc byte[TrailerSize];
                TrailerMagic.CopyTo(trailer);
                BinaryPrimitives.WriteUInt32LittleEndian(trailer[8..], crc);
                RandomAccess.Write(outHandle, trailer, length);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (FileNotFoundException)
        {
            TryDelete(temp);
            Forget(key); // the prefix we meant to extend is gone; the caller starts over next time
            return;
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        lock (_lock)
        {
            if (_items.TryGetValue(key, out var item))
            {
                _bytes += length - item.Length;
                item.Length = length;
                item.Verified = true;
                _lru.Remove(item.Node);
                _lru.AddFirst(item.Node);
            }
            else
            {
                _items[key] = new Item { Length = length, Verified = true, Node = _lru.AddFirst(key) };
                _bytes += length;
            }
            EvictLocked(_maxBytes, keep: key);
            _metrics?.SetCacheBytes(_bytes);
        }
    }

    /// <summary>Cached bytes and span files of one layer.</summary>
    public (long Bytes, int Files) LayerUsage(Digest layer)
    {
        lock (_lock)
        {
            long bytes = 0;
            int files = 0;
            foreach (var (key, item) in _items)
            {
                if (key.Layer != layer) continue;
                bytes += item.Length;
                files++;
            }
            return (bytes, files);
        }
    }

    /// <summary>Removes every cached span of a layer.</summary>
    public void RemoveLayer(Digest layer)
    {
        List<SpanKey> keys;
        lock (_lock) keys = _items.Keys.Where(k => k.Layer == layer).ToList();
        foreach (var k in keys) Drop(k);
        try { Directory.Delete(LayerDir(layer), recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    /// <summary>Evicts least recently used spans until at most <paramref name="maxBytes"/> are cached; returns bytes freed.</summary>
    public long Trim(long maxBytes)
    {
        lock (_lock)
        {
            long freed = EvictLocked(maxBytes, keep: null);
            _metrics?.SetCacheBytes(_bytes);
            return freed;
        }
    }

    /// <summary>Cached bytes and span files per layer.</summary>
    public IReadOnlyDictionary<Digest, (long Bytes, int Files)> Layers()
    {
        lock (_lock)
        {
            var result = new Dictionary<Digest, (long, int)>();
            foreach (var (key, item) in _items)
            {
                result.TryGetValue(key.Layer, out var u);
                result[key.Layer] = (u.Item1 + item.Length, u.Item2 + 1);
            }
            return result;
        }
    }

    /// <summary>Empties the cache.</summary>
    public void Clear()
    {
        List<SpanKey> keys;
        lock (_lock) keys = [.. _items.Keys];
        foreach (var k in keys) Drop(k);
    }

    /// <summary>Evicts least recently used spans (never <paramref name="keep"/>) until at most <paramref name="maxBytes"/> remain; returns bytes freed.</summary>
    private long EvictLocked(long maxBytes, SpanKey? keep)
    {
        long before = _bytes;
        while (_bytes > maxBytes && _lru.Last is { } last && last.Value != keep)
        {
            var key = last.Value;
            _lru.RemoveLast();
            _bytes -= _items[key].Length;
            _items.Remove(key);
            TryDelete(PathOf(key));
            _metrics?.CacheEvictions.Add(1);
        }
        return before - _bytes;
    }

    private void Drop(SpanKey key)
    {
        Forget(key);
        TryDelete(PathOf(key));
    }

    private void Forget(SpanKey key)
    {
        lock (_lock)
        {
            if (!_items.Remove(key, out var item)) return;
            _lru.Remove(item.Node);
            _bytes -= item.Length;
            _metrics?.SetCacheBytes(_bytes);
        }
    }

    /// <summary>Checks a file left by an earlier process against its CRC trailer; drops it if it does not match.</summary>
    private bool Verify(SpanKey key, Item item)
    {
        string path = PathOf(key);
        try
        {
            using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long len = RandomAccess.GetLength(h);
            if (len != item.Length + TrailerSize) throw new InvalidDataException();
            Span<byte> trailer = stackalloc byte[TrailerSize];
            if (RandomAccess.Read(h, trailer, item.Length) != TrailerSize || !trailer[..8].SequenceEqual(TrailerMagic)) throw new InvalidDataException();
            uint stored = BinaryPrimitives.ReadUInt32LittleEndian(trailer[8..]);
            var buf = new byte[1 << 20];
            uint crc = 0;
            for (long pos = 0; pos < item.Length;)
            {
                int n = RandomAccess.Read(h, buf.AsSpan(0, (int)Math.Min(buf.Length, item.Length - pos)), pos);
                if (n == 0) throw new InvalidDataException();
                crc = ZInflater.Crc32(crc, buf.AsSpan(0, n));
                pos += n;
            }
            if (crc != stored) throw new InvalidDataException();
            lock (_lock) item.Verified = true;
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Drop(key);
            return false;
        }
    }

    /// <summary>Loads the index of what is on disk; removes temp files a crash left behind.</summary>
    private void Scan()
    {
        foreach (var algDir in Directory.EnumerateDirectories(_root))
        {
            string alg = Path.GetFileName(algDir);
            foreach (var layerDir in Directory.EnumerateDirectories(algDir))
            {
                if (!Digest.TryParse($"{alg}:{Path.GetFileName(layerDir)}", out var layer)) continue;
                foreach (var file in Directory.EnumerateFiles(layerDir))
                {
                    string name = Path.GetFileName(file);
                    if (name.Contains(".tmp-", StringComparison.Ordinal)) { TryDelete(file); continue; }
                    if (!int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int span)) continue;
                    long len = new FileInfo(file).Length - TrailerSize;
                    if (len < 0) { TryDelete(file); continue; }
                    var key = new SpanKey(layer, span);
                    _items[key] = new Item { Length = len, Verified = false, Node = _lru.AddLast(key) };
                    _bytes += len;
                }
            }
        }
        lock (_lock) EvictLocked(_maxBytes, keep: null);
        _metrics?.SetCacheBytes(_bytes);
    }

    private string LayerDir(Digest layer) => Path.Combine(_root, layer.Algorithm, layer.Hex);

    private string PathOf(SpanKey key) => Path.Combine(LayerDir(key.Layer), key.Span.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
