using System.Buffers.Text;
using System.Text;
using Clip.Gzip;

namespace Clip.Index.Tar;

/// <summary>
/// A push parser for POSIX ustar, PAX and GNU tar streams (the layer formats OCI image-spec
/// layer.md allows). It asks the gzip indexer to stop inflating at every header and file end
/// (<see cref="NextStop"/>), so each file's content gets an exact uncompressed offset and the
/// compressed offset at which it is complete. Refuses what cannot be served: sparse files,
/// multi-volume archives, unknown types, corrupt headers, truncation.
/// </summary>
public sealed class TarStreamParser : IInflateSink
{
    private const int Block = 512;
    /// <summary>PAX and GNU long-name records larger than this are refused (Go's archive/tar uses the same bound).</summary>
    public const int MaxMetaSize = 1 << 20;
    /// <summary>A sanity bound on entry sizes: nothing in a layer is larger.</summary>
    public const long MaxEntrySize = 1L << 44;

    private enum State { Header, Meta, Content, Padding, End }

    // ustar header layout (POSIX.1-2001 pax/ustar; GNU tar's oldgnu variant differs after 345).
    private const int OffName = 0, LenName = 100, OffMode = 100, LenMode = 8, OffUid = 108, LenUid = 8, OffGid = 116, LenGid = 8,
        OffSize = 124, LenSize = 12, OffMTime = 136, LenMTime = 12, OffChksum = 148, LenChksum = 8, OffType = 156,
        OffLink = 157, LenLink = 100, OffMagic = 257, OffUname = 265, LenUname = 32, OffGname = 297, LenGname = 32,
        OffDevMajor = 329, OffDevMinor = 337, LenDev = 8, OffPrefix = 345, LenPrefix = 155;

    private readonly ITarConsumer _consumer;
    private readonly byte[] _header = new byte[Block];
    private int _headerFill;
    private State _state = State.Header;
    private long _pos;
    private long _remaining;
    private TarRecord? _current;
    private byte _metaType;
    private byte[] _meta = [];
    private int _metaFill;
    private int _zeroBlocks;

    // Overrides that apply to the next real header.
    private byte[]? _longName, _longLink;
    private Dictionary<string, byte[]>? _pax;

    public TarStreamParser(ITarConsumer consumer) => _consumer = consumer;

    /// <summary>Entries seen, including meta headers.</summary>
    public int Headers { get; private set; }

    /// <summary>True once the end-of-archive marker (two zero blocks) has been read.</summary>
    public bool SawEndMarker => _state == State.End;

    public long Position => _pos;

    public long NextStop => _state switch
    {
        State.Header => _pos + (Block - _headerFill),
        State.Meta => _pos + (_meta.Length - _metaFill),
        State.Content or State.Padding => _pos + _remaining,
        _ => long.MaxValue,
    };

    public void Write(ReadOnlySpan<byte> data, CompressedOffset consumedThrough)
    {
        while (!data.IsEmpty)
        {
            switch (_state)
            {
                case State.Header:
                {
                    int take = Math.Min(Block - _headerFill, data.Length);
                    data[..take].CopyTo(_header.AsSpan(_headerFill));
                    _headerFill += take;
                    _pos += take;
                    data = data[take..];
                    if (_headerFill == Block)
                    {
                        _headerFill = 0;
                        OnHeader();
                    }
                    break;
                }
                case State.Meta:
                {
                    int take = Math.Min(_meta.Length - _metaFill, data.Length);
                    data[..take].CopyTo(_meta.AsSpan(_metaFill));
                    _metaFill += take;
                    _pos += take;
                    data = data[take..];
                    if (_metaFill == _meta.Length) OnMetaComplete();
                    break;
                }
                case State.Content:
                {
                    int take = (int)Math.Min(_remaining, data.Length);
                    _remaining -= take;
                    _pos += take;
                    data = data[take..];
                    if (_remaining == 0) FinishContent(consumedThrough);
                    break;
                }
                case State.Padding:
                {
                    int take = (int)Math.Min(_remaining, data.Length);
                    _remaining -= take;
                    _pos += take;
                    data = data[take..];
                    if (_remaining == 0) _state = State.Header;
                    break;
                }
                case State.End:
                    // Everything after the end marker is padding to the record size; ignored as tar readers do.
                    _pos += data.Length;
                    return;
            }
        }
    }

    /// <summary>The stream ended: it must end between entries.</summary>
    public void Finish()
    {
        if (_state == State.End) return;
        if (_state == State.Header && _headerFill == 0 && _longName is null && _longLink is null && _pax is null) return;
        throw new TarFormatException($"tar: truncated archive: stream ends at offset {_pos} inside {(_current is null ? "a header" : $"entry \"{_current.DisplayName}\"")}");
    }

    private void OnHeader()
    {
        var h = _header.AsSpan();
        long headerOffset = _pos - Block;
        if (h.IndexOfAnyExcept((byte)0) < 0)
        {
            if (++_zeroBlocks >= 2) _state = State.End;
            return;
        }
        _zeroBlocks = 0;
        Headers++;
        VerifyChecksum(h, headerOffset);

        byte type = h[OffType];
        long size = Numeric(h.Slice(OffSize, LenSize), "size", headerOffset);
        if (size < 0 || size > MaxEntrySize) throw new TarFormatException($"tar: entry at offset {headerOffset} has an impossible size {size}");

        switch (type)
        {
            case (byte)'L':
            case (byte)'K':
            case (byte)'x':
            case (byte)'g':
                if (size > MaxMetaSize) throw new TarFormatException($"tar: {(char)type} record at offset {headerOffset} is {size} bytes, over the {MaxMetaSize}-byte limit");
                _metaType = type;
                _meta = new byte[size];
                _metaFill = 0;
                _state = size == 0 ? State.Header : State.Meta;
                if (size == 0) OnMetaComplete();
                return;
            case (byte)'S':
                throw new TarFormatException($"tar: entry at offset {headerOffset} is a GNU sparse file, which clip does not serve");
            case (byte)'M':
                throw new TarFormatException($"tar: entry at offset {headerOffset} is a multi-volume continuation, which clip does not serve");
        }

        bool ustar = h.Slice(OffMagic, 6).SequenceEqual("ustar\0"u8);
        bool gnu = h.Slice(OffMagic, 8).SequenceEqual("ustar  \0"u8);
        var r = new TarRecord
        {
            TypeFlag = type,
            HeaderOffset = headerOffset,
            DataOffset = _pos,
            Size = size,
            Mode = (uint)(Numeric(h.Slice(OffMode, LenMode), "mode", headerOffset) & 0xFFF),
            Uid = Id(Numeric(h.Slice(OffUid, LenUid), "uid", headerOffset), "uid", headerOffset),
            Gid = Id(Numeric(h.Slice(OffGid, LenGid), "gid", headerOffset), "gid", headerOffset),
            MTimeSeconds = Numeric(h.Slice(OffMTime, LenMTime), "mtime", headerOffset),
        };
        byte[] name = CString(h.Slice(OffName, LenName)).ToArray();
        if (ustar || gnu)
        {
            r.UserName = Encoding.UTF8.GetString(CString(h.Slice(OffUname, LenUname)));
            r.GroupName = Encoding.UTF8.GetString(CString(h.Slice(OffGname, LenGname)));
            if (type is (byte)'3' or (byte)'4')
            {
                r.DevMajor = (uint)Numeric(h.Slice(OffDevMajor, LenDev), "devmajor", headerOffset);
                r.DevMinor = (uint)Numeric(h.Slice(OffDevMinor, LenDev), "devminor", headerOffset);
            }
            if (ustar && !gnu)
            {
                var prefix = CString(h.Slice(OffPrefix, LenPrefix));
                if (!prefix.IsEmpty) name = [.. prefix, (byte)'/', .. name];
            }
        }
        r.Name = name;
        r.LinkName = CString(h.Slice(OffLink, LenLink)).ToArray();
        if (_longName is not null) r.Name = _longName;
        if (_longLink is not null) r.LinkName = _longLink;
        if (_pax is not null) ApplyPax(r, _pax, headerOffset);
        _longName = _longLink = null;
        _pax = null;

        switch (type)
        {
            case (byte)'0' or 0 or (byte)'7' or (byte)'1' or (byte)'2' or (byte)'3' or (byte)'4' or (byte)'5' or (byte)'6':
                break;
            case (byte)'D':
                r.TypeFlag = (byte)'5'; // GNU dumpdir: a directory whose content lists names; the content is skipped
                break;
            case (byte)'V':
                SkipContent(r.Size);
                return;
            default:
                throw new TarFormatException($"tar: entry \"{r.DisplayName}\" at offset {headerOffset} has unsupported type '{(char)type}' (0x{type:x2})");
        }

        if (!r.IsRegular)
        {
            // Links, directories and devices carry no content; a non-zero size is skipped, as tar readers do.
            long skip = r.Size;
            r.Size = 0;
            _consumer.OnEntry(r);
            SkipContent(skip);
            return;
        }
        if (r.Size == 0)
        {
            _consumer.OnEntry(r);
            return;
        }
        _current = r;
        _remaining = r.Size;
        _state = State.Content;
        _consumer.OnContentStart(r);
    }

    private void FinishContent(CompressedOffset consumedThrough)
    {
        var r = _current!;
        r.CompleteBy = consumedThrough.Value;
        _current = null;
        _consumer.OnEntry(r);
        StartPadding(r.Size);
    }

    private void SkipContent(long size)
    {
        if (size == 0)
        {
            _state = State.Header;
            return;
        }
        _remaining = size + Pad(size);
        _state = State.Padding;
    }

    private void StartPadding(long size)
    {
        _remaining = Pad(size);
        _state = _remaining == 0 ? State.Header : State.Padding;
    }

    private static long Pad(long size) => (Block - size % Block) % Block;

    private void OnMetaComplete()
    {
        var data = _meta;
        long padding = Pad(data.Length);
        switch (_metaType)
        {
            case (byte)'L':
                _longName = CString(data).ToArray();
                break;
            case (byte)'K':
                _longLink = CString(data).ToArray();
                break;
            case (byte)'x':
                _pax ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
                ParsePaxRecords(data, _pax, _pos - data.Length);
                break;
            case (byte)'g':
                // Global headers are ignored, as containerd's applier does.
                break;
        }
        _meta = [];
        _remaining = padding;
        _state = padding == 0 ? State.Header : State.Padding;
    }

    private static void ParsePaxRecords(ReadOnlySpan<byte> data, Dictionary<string, byte[]> into, long at)
    {
        while (!data.IsEmpty)
        {
            if (data.IndexOfAnyExcept((byte)0) < 0) break;
            int space = data.IndexOf((byte)' ');
            if (space <= 0 || !Utf8Parser.TryParse(data[..space], out int length, out int used) || used != space || length <= space + 1 || length > data.Length)
                throw new TarFormatException($"tar: malformed PAX record near offset {at}");
            var record = data[(space + 1)..length];
            if (record[^1] != (byte)'\n') throw new TarFormatException($"tar: PAX record near offset {at} does not end with a newline");
            record = record[..^1];
            int eq = record.IndexOf((byte)'=');
            if (eq <= 0) throw new TarFormatException($"tar: PAX record near offset {at} has no key");
            into[Encoding.UTF8.GetString(record[..eq])] = record[(eq + 1)..].ToArray();
            data = data[length..];
        }
    }

    private static void ApplyPax(TarRecord r, Dictionary<string, byte[]> pax, long at)
    {
        foreach (var (key, value) in pax)
        {
            switch (key)
            {
                case "path": r.Name = value; break;
                case "linkpath": r.LinkName = value; break;
                case "size": r.Size = PaxInteger(value, key, at); if (r.Size < 0 || r.Size > MaxEntrySize) throw new TarFormatException($"tar: PAX size {r.Size} at offset {at} is impossible"); break;
                case "uid": r.Uid = Id(PaxInteger(value, key, at), key, at); break;
                case "gid": r.Gid = Id(PaxInteger(value, key, at), key, at); break;
                case "uname": r.UserName = Encoding.UTF8.GetString(value); break;
                case "gname": r.GroupName = Encoding.UTF8.GetString(value); break;
                case "mtime": PaxTime(value, r, at); break;
                case "SCHILY.devmajor": r.DevMajor = (uint)PaxInteger(value, key, at); break;
                case "SCHILY.devminor": r.DevMinor = (uint)PaxInteger(value, key, at); break;
                case "atime" or "ctime":
                    break; // not part of an image's content
                default:
                    if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                        r.Xattrs.Add(new(key["SCHILY.xattr.".Length..], value));
                    else if (key.StartsWith("LIBARCHIVE.xattr.", StringComparison.Ordinal))
                        r.Xattrs.Add(new(Uri.UnescapeDataString(key["LIBARCHIVE.xattr.".Length..]), Base64(value, key, at)));
                    else if (key.StartsWith("GNU.sparse.", StringComparison.Ordinal))
                        throw new TarFormatException($"tar: entry \"{r.DisplayName}\" at offset {at} is a PAX sparse file, which clip does not serve");
                    else
                        r.PaxRecords.Add(new(key, value));
                    break;
            }
        }
    }

    private static byte[] Base64(byte[] value, string key, long at)
    {
        string s = Encoding.ASCII.GetString(value);
        s = s.PadRight(s.Length + (4 - s.Length % 4) % 4, '=');
        try { return Convert.FromBase64String(s); }
        catch (FormatException) { throw new TarFormatException($"tar: PAX record {key} near offset {at} is not base64"); }
    }

    private static long PaxInteger(byte[] value, string key, long at)
    {
        if (!Utf8Parser.TryParse(value, out long v, out int used) || used != value.Length)
            throw new TarFormatException($"tar: PAX record {key} near offset {at} is not an integer");
        return v;
    }

    private static void PaxTime(byte[] value, TarRecord r, long at)
    {
        var s = Encoding.ASCII.GetString(value);
        int dot = s.IndexOf('.');
        string whole = dot < 0 ? s : s[..dot];
        if (!long.TryParse(whole, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long sec))
            throw new TarFormatException($"tar: PAX mtime \"{s}\" near offset {at} is not a time");
        int nsec = 0;
        if (dot >= 0)
        {
            string frac = s[(dot + 1)..];
            if (frac.Length == 0 || !frac.All(char.IsAsciiDigit)) throw new TarFormatException($"tar: PAX mtime \"{s}\" near offset {at} is not a time");
            frac = frac.Length > 9 ? frac[..9] : frac.PadRight(9, '0');
            nsec = int.Parse(frac, System.Globalization.CultureInfo.InvariantCulture);
            if (whole.StartsWith('-') && nsec > 0)
            {
                sec -= 1;
                nsec = 1_000_000_000 - nsec;
            }
        }
        r.MTimeSeconds = sec;
        r.MTimeNanoseconds = nsec;
    }

    private static uint Id(long value, string what, long at) =>
        value is >= 0 and <= uint.MaxValue ? (uint)value : throw new TarFormatException($"tar: {what} {value} at offset {at} is out of range");

    /// <summary>A numeric header field: octal text, or base-256 when the high bit of the first byte is set (GNU/star).</summary>
    private static long Numeric(ReadOnlySpan<byte> field, string what, long at)
    {
        if ((field[0] & 0x80) != 0)
        {
            // Base-256: big-endian two's complement with the marker bit in the first byte.
            bool negative = (field[0] & 0x40) != 0;
            long v = negative ? -1 : 0;
            for (int i = 0; i < field.Length; i++)
            {
                byte b = i == 0 && !negative ? (byte)(field[0] & 0x7f) : field[i];
                if ((v >> 55) != (negative ? -1 : 0)) throw new TarFormatException($"tar: {what} field at offset {at} overflows");
                v = (v << 8) | b;
            }
            return v;
        }
        int s = 0;
        while (s < field.Length && (field[s] == (byte)' ' || field[s] == 0)) s++;
        long result = 0;
        int digits = 0;
        for (int i = s; i < field.Length; i++)
        {
            byte b = field[i];
            if (b == 0 || b == (byte)' ') break;
            if (b < (byte)'0' || b > (byte)'7') throw new TarFormatException($"tar: {what} field at offset {at} is not octal");
            if (++digits > 21) throw new TarFormatException($"tar: {what} field at offset {at} overflows");
            result = result * 8 + (b - '0');
        }
        return result;
    }

    private static void VerifyChecksum(ReadOnlySpan<byte> h, long at)
    {
        long stored = Numeric(h.Slice(OffChksum, LenChksum), "checksum", at);
        long unsignedSum = 0, signedSum = 0;
        for (int i = 0; i < Block; i++)
        {
            byte b = i is >= OffChksum and < OffChksum + LenChksum ? (byte)' ' : h[i];
            unsignedSum += b;
            signedSum += (sbyte)b;
        }
        if (stored != unsignedSum && stored != signedSum)
            throw new TarFormatException($"tar: header checksum mismatch at offset {at} (stored {stored}, computed {unsignedSum}): not a tar stream or corrupt");
    }

    private static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return nul < 0 ? field : field[..nul];
    }
}
