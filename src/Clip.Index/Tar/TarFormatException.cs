namespace Clip.Index.Tar;

/// <summary>The layer's tar stream is malformed or uses something clip refuses (sparse files, unknown types, escaping hardlinks).</summary>
public sealed class TarFormatException(string message) : IOException(message);
