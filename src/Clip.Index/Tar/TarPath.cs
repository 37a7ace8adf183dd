using System.Text;

namespace Clip.Index.Tar;

/// <summary>
/// Normalises tar names to clean relative paths inside the layer root: leading "/" and "./"
/// dropped, "." and empty components removed, ".." resolved lexically and clamped at the root
/// (as containerd's fs.RootPath does), so no name reaches a path outside the tree.
/// </summary>
public static class TarPath
{
    /// <summary>The normalised components of <paramref name="name"/>; empty for the root itself.</summary>
    public static List<string> Components(ReadOnlySpan<byte> name)
    {
        var parts = new List<string>();
        foreach (var range in name.Split((byte)'/'))
        {
            var c = name[range];
            if (c.IsEmpty || c.SequenceEqual("."u8)) continue;
            if (c.SequenceEqual(".."u8))
            {
                if (parts.Count > 0) parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(Latin1(c));
        }
        return parts;
    }

    /// <summary>Bytes as a string of the same length (one char per byte): a lossless key that sorts in byte order.</summary>
    public static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>The bytes of a <see cref="Latin1(ReadOnlySpan{byte})"/> string.</summary>
    public static byte[] Bytes(string latin1) => Encoding.Latin1.GetBytes(latin1);

    /// <summary>A display form (UTF-8 where valid) of a Latin1-keyed path.</summary>
    public static string Display(string latin1) => Encoding.UTF8.GetString(Bytes(latin1));
}
