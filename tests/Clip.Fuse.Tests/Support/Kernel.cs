using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Clip.Fuse.Protocol;

namespace Clip.Fuse.Tests.Support;

/// <summary>Builds requests as the kernel writes them and takes replies apart, with the fuse.h structs.</summary>
public static class Kernel
{
    private static ulong _unique = 2;

    /// <summary>A fresh request id (the kernel steps by 2: bit 0 marks interrupts).</summary>
    public static ulong NextUnique() => Interlocked.Add(ref _unique, 2);

    public static byte[] Request(FuseOpcode opcode, ulong nodeId, ReadOnlySpan<byte> body, ulong? unique = null, uint uid = 0)
    {
        var bytes = new byte[FuseInHeader.WireSize + body.Length];
        var header = new FuseInHeader
        {
            Length = (uint)bytes.Length,
            Opcode = (uint)opcode,
            Unique = unique ?? NextUnique(),
            NodeId = nodeId,
            Uid = uid,
            Pid = 4242,
        };
        MemoryMarshal.Write(bytes, in header);
        body.CopyTo(bytes.AsSpan(FuseInHeader.WireSize));
        return bytes;
    }

    public static byte[] Request<T>(FuseOpcode opcode, ulong nodeId, in T body, ulong? unique = null) where T : unmanaged =>
        Request(opcode, nodeId, Bytes(body), unique);

    public static byte[] Bytes<T>(in T value) where T : unmanaged
    {
        var bytes = new byte[Unsafe.SizeOf<T>()];
        MemoryMarshal.Write(bytes, in value);
        return bytes;
    }

    /// <summary>A NUL-terminated name, as LOOKUP and GETXATTR carry it.</summary>
    public static byte[] Name(string name) => [.. Encoding.UTF8.GetBytes(name), 0];

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static ulong UniqueOf(byte[] request) => MemoryMarshal.Read<FuseInHeader>(request).Unique;

    public static byte[] Init(uint minor = FuseKernel.MinorVersion, InitFlags flags = (InitFlags)ulong.MaxValue & ~InitFlags.InitReserved,
        uint maxReadahead = 128 * 1024, uint major = FuseKernel.MajorVersion, int? size = null)
    {
        var init = new FuseInitIn
        {
            Major = major,
            Minor = minor,
            MaxReadahead = maxReadahead,
            Flags = (uint)flags,
            Flags2 = (uint)((ulong)flags >> 32),
        };
        var body = Bytes(init);
        return Request(FuseOpcode.Init, 0, body.AsSpan(0, size ?? body.Length));
    }
}

/// <summary>A reply as the kernel reads it.</summary>
public sealed class Reply
{
    public Reply(byte[] bytes)
    {
        Bytes = bytes;
        Header = MemoryMarshal.Read<FuseOutHeader>(bytes);
        if (Header.Length != bytes.Length) throw new InvalidOperationException($"out_header.len {Header.Length} but {bytes.Length} bytes written");
    }

    public byte[] Bytes { get; }
    public FuseOutHeader Header { get; }
    public int Error => Header.Error;
    public ulong Unique => Header.Unique;
    public ReadOnlySpan<byte> Body => Bytes.AsSpan(FuseOutHeader.WireSize);

    public T As<T>() where T : unmanaged
    {
        if (Body.Length < Unsafe.SizeOf<T>()) throw new InvalidOperationException($"body {Body.Length} bytes, {typeof(T).Name} needs {Unsafe.SizeOf<T>()}");
        return MemoryMarshal.Read<T>(Body);
    }

    /// <summary>Parses a READDIR (plus=false) or READDIRPLUS body into its records.</summary>
    public List<(string Name, FuseDirent Dirent, FuseEntryOut? Entry)> Dirents(bool plus)
    {
        var list = new List<(string, FuseDirent, FuseEntryOut?)>();
        var body = Body;
        while (!body.IsEmpty)
        {
            FuseEntryOut? entry = null;
            int at = 0;
            if (plus)
            {
                entry = MemoryMarshal.Read<FuseEntryOut>(body);
                at = FuseEntryOut.WireSize;
            }
            var dirent = MemoryMarshal.Read<FuseDirent>(body[at..]);
            at += FuseDirent.WireSize;
            var name = Encoding.UTF8.GetString(body.Slice(at, (int)dirent.Namelen));
            int size = FuseDirent.Align(at + (int)dirent.Namelen);
            if (body[(at + (int)dirent.Namelen)..size].IndexOfAnyExcept((byte)0) >= 0) throw new InvalidOperationException("dirent padding not zero");
            list.Add((name, dirent, entry));
            body = body[size..];
        }
        return list;
    }
}
