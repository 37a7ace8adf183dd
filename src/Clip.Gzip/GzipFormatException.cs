namespace Clip.Gzip;

/// <summary>The compressed stream is not valid gzip (bad header, corrupt deflate data, CRC mismatch, truncation).</summary>
public sealed class GzipFormatException(string message) : IOException(message);
