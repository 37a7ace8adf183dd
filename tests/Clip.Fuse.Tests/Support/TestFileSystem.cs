using System.Text;
using Clip.Interop;

namespace Clip.Fuse.Tests.Support;

/// <summary>How a test file answers reads.</summary>
public enum ReadBehavior
{
    /// <summary>Copies synchronously (a cache hit).</summary>
    Synchronous,
    /// <summary>Completes later on the thread pool (a fetch).</summary>
    Asynchronous,
    /// <summary>Completes on the thread pool right away (the cost of the asynchronous path itself).</summary>
    Yield,
    /// <summary>Never completes until the read is cancelled (an interrupted fetch).</summary>
    BlockUntilCancelled,
    /// <summary>Throws an unexpected exception (a bug in the filesystem).</summary>
    Throw,
    /// <summary>Throws <see cref="FuseException"/> with EIO (a failed fetch, answered without a log line).</summary>
    FuseError,
}

/// <summary>
/// An in-memory read-only tree for the tests: directories, files, symlinks, hard links, devices, fifos and
/// xattrs, with node ids assigned in creation order (root = 1). Lookups and reads are allocation-free
/// (sorted byte names, binary search) so the hot-path allocation test can run through it.
/// </summary>
public sealed class TestFileSystem : IFuseFileSystem
{
    private readonly List<Node> _nodes = [];

    public TestFileSystem(long mtime = 1_700_000_000)
    {
        MTime = mtime;
        Root = NewNode(FileTypes.Directory | 0x1ED, parent: null);
    }

    public long MTime { get; }
    public Node Root { get; }

    /// <summary>Reads that went through each behavior's cancellation path.</summary>
    public int CancelledReads;
    /// <summary>Reads currently blocked in <see cref="ReadBehavior.BlockUntilCancelled"/>.</summary>
    public int BlockedReads;
    public readonly TaskCompletionSource ReadBlocked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public int Forgets;
    public int Releases;

    public sealed class Node
    {
        internal readonly TestFileSystem Fs;
        internal readonly List<(byte[] Name, Node Child)> Children = [];
        internal readonly SortedDictionary<string, byte[]> Xattrs = new(StringComparer.Ordinal);
        internal NodeAttributes Attributes;

        internal Node(TestFileSystem fs, NodeId id, Node? parent)
        {
            Fs = fs;
            Id = id;
            Parent = parent ?? this;
        }

        public NodeId Id { get; }
        public Node Parent { get; }
        public byte[]? Data { get; internal set; }
        public byte[]? Target { get; internal set; }
        public ReadBehavior Reads { get; set; }
        public NodeAttributes Attr => Attributes;

        public Node AddDirectory(string name, uint mode = 0x1ED, uint uid = 0, uint gid = 0)
        {
            var n = Fs.NewNode(FileTypes.Directory | mode, this, uid, gid);
            Attributes.LinkCount++;
            return Link(name, n);
        }

        public Node AddFile(string name, byte[] data, uint mode = 0x1A4, uint uid = 0, uint gid = 0, ReadBehavior reads = ReadBehavior.Synchronous)
        {
            var n = Fs.NewNode(FileTypes.Regular | mode, this, uid, gid);
            n.Data = data;
            n.Reads = reads;
            n.Attributes.Size = data.Length;
            n.Attributes.Blocks = NodeAttributes.BlocksFor(data.Length);
            return Link(name, n);
        }

        public Node AddSymlink(string name, string target)
        {
            var n = Fs.NewNode(FileTypes.Symlink | 0x1FF, this);
            n.Target = Encoding.UTF8.GetBytes(target);
            n.Attributes.Size = n.Target.Length;
            return Link(name, n);
        }

        /// <summary>A second name for an existing node: same node id, same inode, link count + 1.</summary>
        public Node AddHardLink(string name, Node existing)
        {
            existing.Attributes.LinkCount++;
            return Link(name, existing);
        }

        public Node AddCharacterDevice(string name, uint major, uint minor, uint mode = 0)
        {
            var n = Fs.NewNode(FileTypes.CharacterDevice | mode, this);
            n.Attributes.DeviceMajor = major;
            n.Attributes.DeviceMinor = minor;
            return Link(name, n);
        }

        /// <summary>An overlayfs whiteout: a character device 0/0.</summary>
        public Node AddWhiteout(string name) => AddCharacterDevice(name, 0, 0);

        public Node AddFifo(string name, uint mode = 0x1A4) => Link(name, Fs.NewNode(FileTypes.Fifo | mode, this));

        public Node SetXattr(string name, string value) => SetXattr(name, Encoding.UTF8.GetBytes(value));

        public Node SetXattr(string name, byte[] value)
        {
            Xattrs[name] = value;
            return this;
        }

        private Node Link(string name, Node child)
        {
            var bytes = Encoding.UTF8.GetBytes(name);
            int i = Find(bytes);
            if (i >= 0) throw new InvalidOperationException($"{name} exists");
            Children.Insert(~i, (bytes, child));
            return child;
        }

        internal int Find(ReadOnlySpan<byte> name)
        {
            int lo = 0, hi = Children.Count - 1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                int c = Children[mid].Name.AsSpan().SequenceCompareTo(name);
                if (c == 0) return mid;
                if (c < 0) lo = mid + 1;
                else hi = mid - 1;
            }
            return ~lo;
        }
    }

    private Node NewNode(uint mode, Node? parent, uint uid = 0, uint gid = 0)
    {
        var node = new Node(this, new NodeId((ulong)_nodes.Count + 1), parent);
        node.Attributes = new NodeAttributes
        {
            Mode = mode,
            LinkCount = (mode & FileTypes.Mask) == FileTypes.Directory ? 2u : 1u,
            Uid = uid,
            Gid = gid,
            BlockSize = 4096,
            AccessTimeSeconds = MTime,
            ModificationTimeSeconds = MTime,
            ModificationTimeNanoseconds = 500,
            ChangeTimeSeconds = MTime,
        };
        _nodes.Add(node);
        return node;
    }

    private bool TryGet(NodeId id, out Node node)
    {
        ulong i = id.Value - 1;
        if (i < (ulong)_nodes.Count)
        {
            node = _nodes[(int)i];
            return true;
        }
        node = null!;
        return false;
    }

    public Errno Lookup(NodeId parent, ReadOnlySpan<byte> name, out NodeEntry entry)
    {
        entry = default;
        if (!TryGet(parent, out var dir)) return Errno.ENOENT;
        if (dir.Attributes.FileType != FileTypes.Directory) return Errno.ENOTDIR;
        int i = dir.Find(name);
        if (i < 0) return Errno.ENOENT;
        var child = dir.Children[i].Child;
        entry = new NodeEntry(child.Id, child.Attributes);
        return 0;
    }

    public Errno GetAttributes(NodeId node, out NodeAttributes attributes)
    {
        attributes = default;
        if (!TryGet(node, out var n)) return Errno.ENOENT;
        attributes = n.Attributes;
        return 0;
    }

    public Errno ReadLink(NodeId node, Span<byte> destination, out int length)
    {
        length = 0;
        if (!TryGet(node, out var n)) return Errno.ENOENT;
        if (n.Target is null) return Errno.EINVAL;
        if (n.Target.Length > destination.Length) return Errno.ENAMETOOLONG;
        n.Target.CopyTo(destination);
        length = n.Target.Length;
        return 0;
    }

    public Errno Open(NodeId node, int flags, out ulong handle)
    {
        handle = node.Value * 1000;
        if (!TryGet(node, out var n)) return Errno.ENOENT;
        return n.Data is null ? Errno.EISDIR : 0;
    }

    public ValueTask<int> ReadAsync(NodeId node, ulong handle, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!TryGet(node, out var n) || n.Data is null) throw new FuseException(Errno.EBADF);
        if (handle != node.Value * 1000) throw new InvalidOperationException($"handle {handle} was not issued for node {node}");
        switch (n.Reads)
        {
            case ReadBehavior.Synchronous:
                return new ValueTask<int>(Copy(n.Data, offset, buffer.Span));
            case ReadBehavior.Asynchronous:
                return CopyLaterAsync(n.Data, offset, buffer, cancellationToken);
            case ReadBehavior.Yield:
                return CopyAfterYieldAsync(n.Data, offset, buffer);
            case ReadBehavior.BlockUntilCancelled:
                return BlockAsync(cancellationToken);
            case ReadBehavior.FuseError:
                throw new FuseException(Errno.EIO, "simulated fetch failure");
            default:
                throw new InvalidOperationException("simulated bug in the filesystem");
        }
    }

    private static int Copy(byte[] data, long offset, Span<byte> destination)
    {
        if (offset >= data.Length) return 0;
        int n = (int)Math.Min(destination.Length, data.Length - offset);
        data.AsSpan((int)offset, n).CopyTo(destination);
        return n;
    }

    private static async ValueTask<int> CopyLaterAsync(byte[] data, long offset, Memory<byte> buffer, CancellationToken ct)
    {
        await Task.Delay(1, ct);
        return Copy(data, offset, buffer.Span);
    }

    private static async ValueTask<int> CopyAfterYieldAsync(byte[] data, long offset, Memory<byte> buffer)
    {
        await Task.Yield();
        return Copy(data, offset, buffer.Span);
    }

    private async ValueTask<int> BlockAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref BlockedReads);
        ReadBlocked.TrySetResult();
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
            return 0;
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref CancelledReads);
            throw;
        }
        finally
        {
            Interlocked.Decrement(ref BlockedReads);
        }
    }

    public void Release(NodeId node, ulong handle) => Interlocked.Increment(ref Releases);

    public Errno OpenDirectory(NodeId node, out ulong handle)
    {
        handle = 7;
        if (!TryGet(node, out var n)) return Errno.ENOENT;
        return n.Attributes.FileType == FileTypes.Directory ? 0 : Errno.ENOTDIR;
    }

    private static readonly byte[] Dot = "."u8.ToArray(), DotDot = ".."u8.ToArray();

    public Errno ReadDirectory(NodeId node, ulong handle, ulong offset, ref DirectoryWriter writer)
    {
        if (!TryGet(node, out var dir)) return Errno.ENOENT;
        // Cookie p: 0 = ".", 1 = "..", 2 + i = child i; each entry carries p + 1.
        for (ulong p = offset; p < (ulong)dir.Children.Count + 2; p++)
        {
            var (name, child) = p switch
            {
                0 => (Dot, dir),
                1 => (DotDot, dir.Parent),
                _ => dir.Children[(int)(p - 2)],
            };
            if (!writer.TryAdd(name, new NodeEntry(child.Id, child.Attributes), p + 1)) break;
        }
        return 0;
    }

    public Errno GetExtendedAttribute(NodeId node, ReadOnlySpan<byte> name, Span<byte> destination, out int length)
    {
        length = 0;
        if (!TryGet(node, out var n)) return Errno.ENOENT;
        if (!n.Xattrs.TryGetValue(Encoding.UTF8.GetString(name), out var value)) return Errno.ENODATA;
        length = value.Length;
        if (value.Length <= destination.Length) value.CopyTo(destination);
        return 0;
    }

    public Errno ListExtendedAttributes(NodeId node, Span<byte> destination, out int length)
    {
        length = 0;
        if (!TryGet(node, out var n)) return Errno.ENOENT;
        var list = string.Concat(n.Xattrs.Keys.Select(k => k + "\0"));
        var bytes = Encoding.UTF8.GetBytes(list);
        length = bytes.Length;
        if (bytes.Length <= destination.Length) bytes.CopyTo(destination);
        return 0;
    }

    public Errno GetStatistics(NodeId node, out FileSystemStatistics statistics)
    {
        statistics = new FileSystemStatistics
        {
            Blocks = 1000, FreeBlocks = 0, AvailableBlocks = 0, Files = (ulong)_nodes.Count, FreeFiles = 0,
            BlockSize = 4096, FragmentSize = 4096, MaxNameLength = 255,
        };
        return 0;
    }

    public void Forget(NodeId node, ulong lookups) => Interlocked.Increment(ref Forgets);
}
