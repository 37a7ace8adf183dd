using System.Runtime.InteropServices;
using Clip.Fuse.Protocol;
using Clip.Interop;
using Microsoft.Extensions.Logging;

namespace Clip.Fuse.Server;

/// <summary>
/// Turns one raw request into calls on an <see cref="IFuseFileSystem"/> and one raw reply. It owns the
/// protocol rules (opcode table, compat sizes, errno for refused operations, negative entries, xattr
/// size probes) so filesystems only answer questions about nodes. Nothing escapes it: a handler's
/// exception becomes an errno reply and, unless it is a <see cref="FuseException"/>, one log line.
/// </summary>
internal sealed partial class FuseDispatcher
{
    /// <summary>max_write we negotiate. Writes are refused, but the kernel sizes its request-buffer check on it.</summary>
    public const int MaxWrite = 64 * 1024;

    /// <summary>
    /// Request buffer: the kernel refuses a read(2) smaller than in_header + write_in + max_write
    /// (fs/fuse/dev.c fuse_dev_do_read); the slack also fits SETXATTR's 64 KiB value with its name.
    /// </summary>
    public const int RequestBufferSize = MaxWrite + 8 * 1024;

    /// <summary>XATTR_SIZE_MAX / XATTR_LIST_MAX (linux/limits.h): the largest value or name list.</summary>
    public const int XattrMax = 64 * 1024;

    /// <summary>PATH_MAX: the longest symlink target.</summary>
    private const int PathMax = 4096;

    private const int O_ACCMODE = 3, O_RDONLY = 0, O_TRUNC = 0x200, W_OK = 2;
    private const Errno EPROTO = (Errno)71;

    private readonly IFuseFileSystem _fs;
    private readonly FuseServerOptions _options;
    private readonly ILogger _logger;
    private readonly FuseServerStatistics _statistics;
    private readonly RequestContextPool _pool;
    private readonly InFlightRequests _inFlight = new();
    private readonly CacheTimes _times;
    private readonly string _name;
    private volatile FuseConnectionInfo? _connection;
    private ProtocolSizes _sizes;

    public FuseDispatcher(IFuseFileSystem fs, FuseServerOptions options, ILogger logger, FuseServerStatistics statistics,
        RequestContextPool pool, FuseConnectionInfo? connection, string name)
    {
        _fs = fs;
        _options = options;
        _logger = logger;
        _statistics = statistics;
        _pool = pool;
        _times = CacheTimes.From(options);
        _name = name;
        if (connection is not null) SetConnection(connection);
    }

    /// <summary>The reply body capacity every context needs: the largest READ, readdir or xattr reply.</summary>
    public static int ReplyBodyCapacity(FuseServerOptions options) => Math.Max(options.MaxRead, XattrMax);

    /// <summary>What INIT settled; null until then.</summary>
    public FuseConnectionInfo? Connection => _connection;

    /// <summary>Raised on the worker that handled INIT, after the reply was sent.</summary>
    public event Action<FuseConnectionInfo>? Initialized;

    /// <summary>Asynchronous reads not yet answered.</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>Cancels every asynchronous read in flight (shutdown).</summary>
    public void CancelInFlight() => _inFlight.CancelAll();

    private void SetConnection(FuseConnectionInfo connection)
    {
        _sizes = ProtocolSizes.For(connection.Minor);
        _connection = connection;
    }

    /// <summary>
    /// Handles the request in <paramref name="ctx"/> and replies on its channel. Returns false when the context
    /// went with an asynchronous read (the caller must not touch it and needs a fresh one), true otherwise.
    /// </summary>
    public bool Dispatch(RequestContext ctx)
    {
        ReadOnlySpan<byte> request = ctx.Request.AsSpan(0, ctx.RequestLength);
        if (request.Length < FuseInHeader.WireSize)
        {
            // Without a header there is no unique to answer; the kernel never sends this.
            Log.MalformedRequest(_logger, 0, request.Length, "shorter than fuse_in_header");
            return true;
        }

        var header = MemoryMarshal.Read<FuseInHeader>(request);
        ctx.Unique = header.Unique;
        ctx.Opcode = header.Opcode;
        ctx.NodeId = header.NodeId;
        _statistics.Request(header.Opcode);
        var op = OpcodeTable.Get(header.Opcode);
        Log.Request(_logger, op.Name, header.NodeId, header.Unique);

        int bodyEnd = request.Length - header.TotalExtLength * 8;
        if (header.Length != request.Length || bodyEnd < FuseInHeader.WireSize)
        {
            Log.MalformedRequest(_logger, header.Opcode, request.Length, $"header says {header.Length} bytes, {header.TotalExtLength * 8} of extensions");
            return ReplyError(ctx, Errno.EIO);
        }
        ReadOnlySpan<byte> body = request[FuseInHeader.WireSize..bodyEnd];

        if (op.Disposition is OpcodeDisposition.NotSupported or OpcodeDisposition.ReadOnly)
            return ReplyError(ctx, OpcodeTable.RefusalErrno(op.Disposition));

        bool reply = op.Disposition == OpcodeDisposition.Served;
        if (body.Length < op.MinimumBodySize)
        {
            Log.MalformedRequest(_logger, header.Opcode, request.Length, $"{op.Name} needs {op.MinimumBodySize} bytes of input");
            return reply ? ReplyError(ctx, Errno.EIO) : true;
        }
        if (_connection is null && header.Opcode != (uint)FuseOpcode.Init)
        {
            Log.MalformedRequest(_logger, header.Opcode, request.Length, "request before INIT");
            return reply ? ReplyError(ctx, Errno.EIO) : true;
        }

        try
        {
            var node = new NodeId(header.NodeId);
            switch ((FuseOpcode)header.Opcode)
            {
                case FuseOpcode.Init: return Init(ctx, body);
                case FuseOpcode.Lookup: return Lookup(ctx, node, body);
                case FuseOpcode.Forget:
                    _fs.Forget(node, Wire.Read<FuseForgetIn>(body).Nlookup);
                    return true;
                case FuseOpcode.BatchForget: return BatchForget(body);
                case FuseOpcode.Getattr: return GetAttributes(ctx, node);
                case FuseOpcode.Readlink: return ReadLink(ctx, node);
                case FuseOpcode.Open: return Open(ctx, node, body);
                case FuseOpcode.Read: return Read(ctx, node, body);
                case FuseOpcode.Release:
                    _fs.Release(node, Wire.Read<FuseReleaseIn>(body).Fh);
                    return ReplyEmpty(ctx);
                case FuseOpcode.Flush: return ReplyEmpty(ctx);
                case FuseOpcode.Opendir: return OpenDirectory(ctx, node);
                case FuseOpcode.Readdir: return ReadDirectory(ctx, node, body, plus: false);
                case FuseOpcode.Readdirplus: return ReadDirectory(ctx, node, body, plus: true);
                case FuseOpcode.Releasedir:
                    _fs.ReleaseDirectory(node, Wire.Read<FuseReleaseIn>(body).Fh);
                    return ReplyEmpty(ctx);
                case FuseOpcode.Statfs: return Statistics(ctx, node);
                case FuseOpcode.Getxattr: return GetExtendedAttribute(ctx, node, body);
                case FuseOpcode.Listxattr: return ListExtendedAttributes(ctx, node, body);
                // With default_permissions the kernel checks modes itself; only writing is ours to refuse.
                case FuseOpcode.Access:
                    return (Wire.Read<FuseAccessIn>(body).Mask & W_OK) != 0 ? ReplyError(ctx, Errno.EROFS) : ReplyEmpty(ctx);
                // No reply: the kernel only listens for EAGAIN/ENOSYS to an INTERRUPT (fs/fuse/dev.c).
                case FuseOpcode.Interrupt:
                    _inFlight.Interrupt(Wire.Read<FuseInterruptIn>(body).Unique);
                    return true;
                case FuseOpcode.Destroy:
                    Log.Destroyed(_logger, _name);
                    return ReplyEmpty(ctx);
                case FuseOpcode.NotifyReply:
                    return true;
                default:
                    return ReplyError(ctx, Errno.ENOSYS);
            }
        }
        catch (Exception e)
        {
            var errno = ToErrno(ctx, e);
            return reply ? ReplyError(ctx, errno) : true;
        }
    }

    private bool Init(RequestContext ctx, ReadOnlySpan<byte> body)
    {
        var init = Wire.Read<FuseInitIn>(body);
        if (init.Major < FuseKernel.MajorVersion)
        {
            Log.ProtocolRefused(_logger, init.Major, init.Minor);
            return ReplyError(ctx, EPROTO);
        }
        if (init.Major > FuseKernel.MajorVersion)
        {
            // fuse.h "Version negotiation": answer with our major only; the kernel sends INIT again with 7.x.
            var ours = new FuseInitOut { Major = FuseKernel.MajorVersion, Minor = FuseKernel.MinorVersion };
            return ReplyStruct(ctx, ours, FuseInitOut.WireSize);
        }

        uint minor = Math.Min(init.Minor, FuseKernel.MinorVersion);
        // Before 7.6 fuse_init_in had no max_readahead/flags (the bytes are absent and read as zero).
        var offered = init.Minor >= 6 ? init.AllFlags : InitFlags.None;
        var wanted = InitFlags.AsyncRead | InitFlags.ParallelDirops | InitFlags.MaxPages
            // We do not answer LOOKUP of "." / "..", so tell the kernel not to offer NFS export (7.40).
            | InitFlags.NoExportSupport;
        if (_options.CacheSymlinks) wanted |= InitFlags.CacheSymlinks;
        wanted |= _options.ReaddirPlus switch
        {
            ReaddirPlusMode.Always => InitFlags.DoReaddirplus,
            ReaddirPlusMode.Auto => InitFlags.DoReaddirplus | InitFlags.ReaddirplusAuto,
            _ => InitFlags.None,
        };
        var flags = offered & wanted;
        // flags2 is only read when FUSE_INIT_EXT is set in the reply (7.36).
        if ((offered & InitFlags.InitExt) != 0) flags |= InitFlags.InitExt;

        ushort maxPages = (ushort)(_options.MaxRead / Environment.SystemPageSize);
        ushort maxBackground = (ushort)_options.MaxBackground;
        var reply = new FuseInitOut
        {
            Major = FuseKernel.MajorVersion,
            Minor = minor,
            MaxReadahead = Math.Min(init.MaxReadahead, (uint)_options.MaxReadahead),
            Flags = (uint)flags,
            Flags2 = (uint)((ulong)flags >> 32),
            MaxBackground = maxBackground,
            CongestionThreshold = (ushort)(maxBackground * 3 / 4),
            MaxWrite = MaxWrite,
            TimeGran = 1,
            MaxPages = (flags & InitFlags.MaxPages) != 0 ? maxPages : (ushort)0,
        };
        var connection = new FuseConnectionInfo
        {
            Minor = minor,
            KernelMinor = init.Minor,
            KernelFlags = offered,
            Flags = flags,
            MaxReadahead = reply.MaxReadahead,
            MaxWrite = reply.MaxWrite,
            // fs/fuse/fuse_i.h FUSE_DEFAULT_MAX_PAGES_PER_REQ: what a kernel without FUSE_MAX_PAGES uses.
            MaxPages = reply.MaxPages != 0 ? reply.MaxPages : (ushort)32,
            MaxBackground = reply.MaxBackground,
            CongestionThreshold = reply.CongestionThreshold,
        };
        // Set before replying: the kernel may send the next request the moment the reply lands.
        SetConnection(connection);
        ReplyStruct(ctx, reply, _sizes.InitOut);
        Log.Initialized(_logger, init.Minor, minor, flags.ToString(), connection.MaxPages, connection.MaxReadahead);
        Initialized?.Invoke(connection);
        return true;
    }

    private bool Lookup(RequestContext ctx, NodeId parent, ReadOnlySpan<byte> body)
    {
        var name = Wire.CString(body);
        var errno = _fs.Lookup(parent, name, out var entry);
        if (errno == Errno.ENOENT && _times.Negative.Seconds + _times.Negative.Nanoseconds > 0)
            return ReplyStruct(ctx, Formatting.NegativeEntry(_times), _sizes.EntryOut);
        if (errno != 0) return ReplyError(ctx, errno);
        return ReplyStruct(ctx, Formatting.ToEntryOut(entry, _times), _sizes.EntryOut);
    }

    private bool BatchForget(ReadOnlySpan<byte> body)
    {
        uint count = Wire.Read<FuseBatchForgetIn>(body).Count;
        var items = body[FuseBatchForgetIn.WireSize..];
        // A short batch is the kernel's bug, not a reason to drop the forgets that did arrive.
        int n = (int)Math.Min(count, (uint)(items.Length / FuseForgetOne.WireSize));
        for (int i = 0; i < n; i++)
        {
            var one = Wire.Read<FuseForgetOne>(items.Slice(i * FuseForgetOne.WireSize));
            _fs.Forget(new NodeId(one.NodeId), one.Nlookup);
        }
        return true;
    }

    private bool GetAttributes(RequestContext ctx, NodeId node)
    {
        var errno = _fs.GetAttributes(node, out var attributes);
        if (errno != 0) return ReplyError(ctx, errno);
        var reply = new FuseAttrOut
        {
            AttrValid = _times.Attributes.Seconds,
            AttrValidNsec = _times.Attributes.Nanoseconds,
            Attr = Formatting.ToFuseAttr(node, attributes),
        };
        return ReplyStruct(ctx, reply, _sizes.AttrOut);
    }

    private bool ReadLink(RequestContext ctx, NodeId node)
    {
        var target = Body(ctx)[..PathMax];
        var errno = _fs.ReadLink(node, target, out int length);
        if (errno != 0) return ReplyError(ctx, errno);
        if ((uint)length > (uint)target.Length) throw new InvalidOperationException($"ReadLink reported {length} bytes for a {target.Length}-byte buffer");
        return Reply(ctx, length);
    }

    private bool Open(RequestContext ctx, NodeId node, ReadOnlySpan<byte> body)
    {
        int flags = (int)Wire.Read<FuseOpenIn>(body).Flags;
        // Reached only when the mount is not MS_RDONLY; refuse writing as the VFS would on a read-only mount.
        if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0) return ReplyError(ctx, Errno.EROFS);
        var errno = _fs.Open(node, flags, out ulong handle);
        if (errno != 0) return ReplyError(ctx, errno);
        var openFlags = OpenReplyFlags.None;
        if (_options.KeepCache) openFlags |= OpenReplyFlags.KeepCache;
        if (_connection!.Minor >= 35) openFlags |= OpenReplyFlags.NoFlush;
        return ReplyStruct(ctx, new FuseOpenOut { Fh = handle, OpenFlags = openFlags }, FuseOpenOut.WireSize);
    }

    private bool OpenDirectory(RequestContext ctx, NodeId node)
    {
        var errno = _fs.OpenDirectory(node, out ulong handle);
        if (errno != 0) return ReplyError(ctx, errno);
        var openFlags = OpenReplyFlags.None;
        if (_options.CacheDirectories && _connection!.Minor >= 28) openFlags |= OpenReplyFlags.CacheDir | OpenReplyFlags.KeepCache;
        return ReplyStruct(ctx, new FuseOpenOut { Fh = handle, OpenFlags = openFlags }, FuseOpenOut.WireSize);
    }

    private bool ReadDirectory(RequestContext ctx, NodeId node, ReadOnlySpan<byte> body, bool plus)
    {
        var read = Wire.Read<FuseReadIn>(body);
        // A listing may always be shorter than asked: the kernel asks again from the last cookie.
        int size = (int)Math.Min(read.Size, (uint)ctx.ReplyCapacity);
        var writer = new DirectoryWriter(Body(ctx)[..size], plus, _times);
        var errno = _fs.ReadDirectory(node, read.Fh, read.Offset, ref writer);
        if (errno != 0) return ReplyError(ctx, errno);
        return Reply(ctx, writer.Length);
    }

    private bool Statistics(RequestContext ctx, NodeId node)
    {
        var errno = _fs.GetStatistics(node, out var s);
        if (errno != 0) return ReplyError(ctx, errno);
        var reply = new FuseKstatfs
        {
            Blocks = s.Blocks,
            Bfree = s.FreeBlocks,
            Bavail = s.AvailableBlocks,
            Files = s.Files,
            Ffree = s.FreeFiles,
            Bsize = s.BlockSize,
            Namelen = s.MaxNameLength,
            Frsize = s.FragmentSize,
        };
        return ReplyStruct(ctx, reply, _sizes.StatfsOut);
    }

    private bool GetExtendedAttribute(RequestContext ctx, NodeId node, ReadOnlySpan<byte> body)
    {
        uint size = Wire.Read<FuseGetxattrIn>(body).Size;
        var name = Wire.CString(body[FuseGetxattrIn.WireSize..]);
        var destination = size == 0 ? Span<byte>.Empty : Body(ctx)[..(int)Math.Min(size, (uint)ctx.ReplyCapacity)];
        var errno = _fs.GetExtendedAttribute(node, name, destination, out int length);
        return ReplyXattr(ctx, size, destination.Length, errno, length);
    }

    private bool ListExtendedAttributes(RequestContext ctx, NodeId node, ReadOnlySpan<byte> body)
    {
        uint size = Wire.Read<FuseGetxattrIn>(body).Size;
        var destination = size == 0 ? Span<byte>.Empty : Body(ctx)[..(int)Math.Min(size, (uint)ctx.ReplyCapacity)];
        var errno = _fs.ListExtendedAttributes(node, destination, out int length);
        return ReplyXattr(ctx, size, destination.Length, errno, length);
    }

    /// <summary>getxattr(2) protocol: size 0 asks for the length (fuse_getxattr_out); a value longer than asked is ERANGE.</summary>
    private bool ReplyXattr(RequestContext ctx, uint requested, int room, Errno errno, int length)
    {
        if (errno != 0) return ReplyError(ctx, errno);
        if (length < 0) throw new InvalidOperationException($"extended attribute length {length}");
        if (requested == 0) return ReplyStruct(ctx, new FuseGetxattrOut { Size = (uint)length }, FuseGetxattrOut.WireSize);
        if (length > room) return ReplyError(ctx, Errno.ERANGE);
        return Reply(ctx, length);
    }

    /// <summary>Maps a handler's exception to the errno to answer; anything but a <see cref="FuseException"/> or an interrupt is logged once.</summary>
    private Errno ToErrno(RequestContext ctx, Exception e)
    {
        switch (e)
        {
            case FuseException fuse:
                return fuse.Errno;
            case OperationCanceledException when ctx.Cancellation.IsCancellationRequested:
                return Errno.EINTR;
            default:
                _statistics.Failure();
                Log.RequestFailed(_logger, e, OpcodeTable.Get(ctx.Opcode).Name, ctx.NodeId, ctx.Unique);
                return Errno.EIO;
        }
    }

    private static Span<byte> Body(RequestContext ctx) => ctx.Reply.AsSpan(FuseOutHeader.WireSize);

    private bool ReplyStruct<T>(RequestContext ctx, in T value, int size) where T : unmanaged
    {
        Wire.Write(Body(ctx), value);
        return Reply(ctx, size);
    }

    private bool ReplyEmpty(RequestContext ctx) => Reply(ctx, 0);

    /// <summary>Sends the out header and the first <paramref name="bodyLength"/> bytes of the body.</summary>
    private bool Reply(RequestContext ctx, int bodyLength)
    {
        int total = FuseOutHeader.WireSize + bodyLength;
        Wire.Write(ctx.Reply, new FuseOutHeader { Length = (uint)total, Error = 0, Unique = ctx.Unique });
        Send(ctx, ctx.Reply.AsSpan(0, total));
        return true;
    }

    private bool ReplyError(RequestContext ctx, Errno errno)
    {
        _statistics.Error();
        Wire.Write(ctx.Reply, new FuseOutHeader { Length = FuseOutHeader.WireSize, Error = -(int)errno, Unique = ctx.Unique });
        Send(ctx, ctx.Reply.AsSpan(0, FuseOutHeader.WireSize));
        return true;
    }

    private void Send(RequestContext ctx, ReadOnlySpan<byte> reply)
    {
        var errno = ctx.Channel.Send(reply);
        // ENOENT: the request was interrupted and the kernel stopped waiting. ENODEV: the session is gone.
        if (errno is 0 or Errno.ENOENT or Errno.ENODEV) return;
        Log.ReplyFailed(_logger, OpcodeTable.Get(ctx.Opcode).Name, ctx.Unique, errno);
    }
}
