using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace Clip.Testing;

/// <summary>
/// Builds a layer tar in memory with System.Formats.Tar (an implementation independent of clip's
/// own tar reader, so tests compare against a second opinion). Entries are written in the order added.
/// </summary>
public sealed class LayerBuilder
{
    private readonly List<Func<TarEntryFormat, TarEntry>> _entries = [];
    private static readonly DateTimeOffset DefaultTime = new(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);

    /// <summary>Tar format used for every entry (PAX by default; GNU gives GNU long names).</summary>
    public TarEntryFormat Format { get; init; } = TarEntryFormat.Pax;

    public LayerBuilder File(string path, byte[] content, int mode = 0b110_100_100, int uid = 0, int gid = 0,
        DateTimeOffset? mtime = null, IReadOnlyDictionary<string, string>? xattrs = null, string? uname = null, string? gname = null)
    {
        _entries.Add(f => Entry(f, TarEntryType.RegularFile, path, mode, uid, gid, mtime, xattrs, uname, gname, e =>
        {
            e.DataStream = new MemoryStream(content, writable: false);
        }));
        return this;
    }

    public LayerBuilder File(string path, string content, int mode = 0b110_100_100, int uid = 0, int gid = 0,
        DateTimeOffset? mtime = null, IReadOnlyDictionary<string, string>? xattrs = null) =>
        File(path, Encoding.UTF8.GetBytes(content), mode, uid, gid, mtime, xattrs);

    public LayerBuilder Dir(string path, int mode = 0b111_101_101, int uid = 0, int gid = 0, DateTimeOffset? mtime = null,
        IReadOnlyDictionary<string, string>? xattrs = null)
    {
        _entries.Add(f => Entry(f, TarEntryType.Directory, path.EndsWith('/') ? path : path + "/", mode, uid, gid, mtime, xattrs, null, null, null));
        return this;
    }

    public LayerBuilder Symlink(string path, string target, int uid = 0, int gid = 0)
    {
        _entries.Add(f => Entry(f, TarEntryType.SymbolicLink, path, 0b111_111_111, uid, gid, null, null, null, null, e => e.LinkName = target));
        return this;
    }

    public LayerBuilder Hardlink(string path, string target)
    {
        _entries.Add(f => Entry(f, TarEntryType.HardLink, path, 0b110_100_100, 0, 0, null, null, null, null, e => e.LinkName = target));
        return this;
    }

    public LayerBuilder CharDevice(string path, int major, int minor, int mode = 0b110_110_110)
    {
        _entries.Add(f => Entry(f, TarEntryType.CharacterDevice, path, mode, 0, 0, null, null, null, null, e =>
        {
            var p = (PosixTarEntry)e;
            p.DeviceMajor = major;
            p.DeviceMinor = minor;
        }));
        return this;
    }

    public LayerBuilder BlockDevice(string path, int major, int minor, int mode = 0b110_110_000)
    {
        _entries.Add(f => Entry(f, TarEntryType.BlockDevice, path, mode, 0, 0, null, null, null, null, e =>
        {
            var p = (PosixTarEntry)e;
            p.DeviceMajor = major;
            p.DeviceMinor = minor;
        }));
        return this;
    }

    public LayerBuilder Fifo(string path, int mode = 0b110_100_100)
    {
        _entries.Add(f => Entry(f, TarEntryType.Fifo, path, mode, 0, 0, null, null, null, null, null));
        return this;
    }

    /// <summary>An OCI whiteout: removes <paramref name="path"/> from the layers below.</summary>
    public LayerBuilder Whiteout(string path)
    {
        string dir = Path.GetDirectoryName(path.TrimEnd('/'))?.Replace('\\', '/') ?? "";
        string name = Path.GetFileName(path.TrimEnd('/'));
        return File((dir.Length > 0 ? dir + "/" : "") + ".wh." + name, Array.Empty<byte>());
    }

    /// <summary>An OCI opaque-directory marker: hides everything below <paramref name="dir"/> in lower layers.</summary>
    public LayerBuilder Opaque(string dir) => File(dir.TrimEnd('/') + "/.wh..wh..opq", Array.Empty<byte>());

    /// <summary>Adds an entry built by the caller (hostile names, odd types).</summary>
    public LayerBuilder Raw(Func<TarEntryFormat, TarEntry> make)
    {
        _entries.Add(make);
        return this;
    }

    /// <summary>The uncompressed tar stream.</summary>
    public byte[] BuildTar()
    {
        var ms = new MemoryStream();
        using (var w = new TarWriter(ms, Format, leaveOpen: true))
        {
            foreach (var make in _entries)
                w.WriteEntry(make(Format));
        }
        return ms.ToArray();
    }

    /// <summary>The gzip-compressed tar (one member).</summary>
    public byte[] BuildGzip(CompressionLevel level = CompressionLevel.Optimal) => Gzip(BuildTar(), level);

    /// <summary>gzip <paramref name="data"/> as one member.</summary>
    public static byte[] Gzip(byte[] data, CompressionLevel level = CompressionLevel.Optimal)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, level, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    /// <summary>gzip <paramref name="data"/> as several concatenated members, split at <paramref name="cuts"/>.</summary>
    public static byte[] GzipMultiMember(byte[] data, params int[] cuts)
    {
        var ms = new MemoryStream();
        int start = 0;
        foreach (int end in cuts.Append(data.Length))
        {
            using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data, start, end - start);
            start = end;
        }
        return ms.ToArray();
    }

    private static TarEntry Entry(TarEntryFormat format, TarEntryType type, string path, int mode, int uid, int gid,
        DateTimeOffset? mtime, IReadOnlyDictionary<string, string>? xattrs, string? uname, string? gname, Action<TarEntry>? configure)
    {
        TarEntry e;
        if (format == TarEntryFormat.Pax && xattrs is { Count: > 0 })
        {
            var ext = xattrs.ToDictionary(kv => "SCHILY.xattr." + kv.Key, kv => kv.Value);
            e = new PaxTarEntry(type, path, ext);
        }
        else
        {
            e = format switch
            {
                TarEntryFormat.Pax => new PaxTarEntry(type, path),
                TarEntryFormat.Gnu => new GnuTarEntry(type, path),
                TarEntryFormat.Ustar => new UstarTarEntry(type, path),
                _ => new V7TarEntry(type == TarEntryType.RegularFile ? TarEntryType.V7RegularFile : type, path),
            };
        }
        e.Mode = (UnixFileMode)mode;
        e.Uid = uid;
        e.Gid = gid;
        e.ModificationTime = mtime ?? DefaultTime;
        if (e is PosixTarEntry posix)
        {
            posix.UserName = uname ?? (uid == 0 ? "root" : "");
            posix.GroupName = gname ?? (gid == 0 ? "root" : "");
        }
        configure?.Invoke(e);
        return e;
    }
}
