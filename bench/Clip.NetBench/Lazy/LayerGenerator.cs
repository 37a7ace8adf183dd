using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace Clip.NetBench.Lazy;

/// <summary>xoshiro256** (Blackman and Vigna): fixed output for a fixed seed, on every runtime.</summary>
public struct Xoshiro
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro(ulong seed)
    {
        // splitmix64 expands the seed, as the authors recommend
        ulong Next()
        {
            seed += 0x9E3779B97F4A7C15;
            ulong z = seed;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            return z ^ (z >> 31);
        }
        _s0 = Next();
        _s1 = Next();
        _s2 = Next();
        _s3 = Next();
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, n).</summary>
    public int Next(int n) => (int)(NextUInt64() % (ulong)n);

    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public void Fill(Span<byte> destination)
    {
        while (destination.Length >= 8)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(destination, NextUInt64());
            destination = destination[8..];
        }
        if (destination.Length > 0)
        {
            Span<byte> last = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(last, NextUInt64());
            last[..destination.Length].CopyTo(destination);
        }
    }
}

/// <summary>What the content of a generated file looks like to gzip.</summary>
public enum ContentKind
{
    /// <summary>Words and lines from a small vocabulary (compresses about 3-4×).</summary>
    Text,
    /// <summary>Random bytes (does not compress).</summary>
    Binary,
    /// <summary>Blocks drawn from a small pool of random blocks (compresses somewhat).</summary>
    Mixed,
}

/// <summary>A 4 KiB file of the generated layer that the benchmark may read, with the sha256 of its content.</summary>
public sealed record Candidate(string Path, ContentKind Kind, byte[] Sha256);

/// <summary>The generated layer: a gzip tar blob on disk and what describes it.</summary>
public sealed record GeneratedLayer(string BlobPath, string Digest, string DiffId, long CompressedSize, long UncompressedSize,
    int Files, int Directories, long FileBytes, IReadOnlyList<Candidate> Candidates);

/// <summary>
/// Writes one deterministic image layer (tar + gzip, .NET's zlib at the default level): many small
/// files of text, binary and mixed content — a good share exactly 4 KiB, the files the benchmark
/// reads — interleaved with large files, until the tar reaches the requested size.
/// </summary>
public static class LayerGenerator
{
    private static readonly string[] Words =
        ("def class return import from self value items append print yield lambda data result config " +
         "static void public private async await string int long var new null true false if else for while " +
         "the of and to in is that it with as for on was be by this are or his from at which but have an").Split(' ');

    private static readonly DateTimeOffset MTime = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static GeneratedLayer Write(string path, long targetBytes, ulong seed = 42)
    {
        var rng = new Xoshiro(seed);
        var candidates = new List<Candidate>();
        int files = 0, dirs = 0;
        long fileBytes = 0;
        byte[] pool = new byte[256 * 64];
        new Xoshiro(seed ^ 0xABCDEF).Fill(pool);

        using var compressedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var tarHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long compressedSize, tarSize;
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var compressedCounter = new HashingStream(file, compressedHash);
            using (var gzip = new GZipStream(compressedCounter, CompressionLevel.Optimal, leaveOpen: true))
            {
                var tarCounter = new HashingStream(gzip, tarHash);
                using (var tar = new TarWriter(tarCounter, TarEntryFormat.Ustar, leaveOpen: true))
                {
                    // Small files take a bit more than half of the target; large files are put in between.
                    long smallTarget = targetBytes * 9 / 16;
                    long largeTarget = targetBytes - smallTarget;
                    const int LargeSize = 8 << 20;
                    int largeCount = (int)Math.Max(1, largeTarget / LargeSize);
                    long smallPerLarge = smallTarget / (largeCount + 1);
                    long sinceLarge = 0;
                    int large = 0, dir = -1;
                    AddDir(tar, "data/");
                    dirs++;
                    while (fileBytes < targetBytes - 1024 * 1024)
                    {
                        if (sinceLarge >= smallPerLarge && large < largeCount)
                        {
                            var kind = (ContentKind)(large % 3);
                            byte[] big = Content(ref rng, kind, LargeSize, pool);
                            AddFile(tar, $"data/large{large:00}.{Extension(kind)}", big, 0b110_100_100);
                            files++;
                            fileBytes += big.Length;
                            large++;
                            sinceLarge = 0;
                            continue;
                        }
                        if (files % 300 == 0)
                        {
                            dir++;
                            AddDir(tar, $"src/pkg{dir:000}/");
                            dirs++;
                        }
                        double roll = rng.NextDouble();
                        var k = roll < 0.55 ? ContentKind.Text : roll < 0.85 ? ContentKind.Binary : ContentKind.Mixed;
                        bool candidate = rng.NextDouble() < 0.4;
                        // Sizes: 40 % exactly 4 KiB, the rest log-uniform between 100 B and 64 KiB.
                        int size = candidate ? 4096 : (int)Math.Exp(Math.Log(100) + rng.NextDouble() * (Math.Log(65536) - Math.Log(100)));
                        byte[] content = Content(ref rng, k, size, pool);
                        string name = $"src/pkg{dir:000}/f{files:000000}.{Extension(k)}";
                        AddFile(tar, name, content, 0b110_100_100);
                        if (candidate) candidates.Add(new Candidate(name, k, SHA256.HashData(content)));
                        files++;
                        fileBytes += size;
                        sinceLarge += size;
                    }
                }
                tarSize = tarCounter.Length;
            }
            compressedSize = compressedCounter.Length;
        }
        return new GeneratedLayer(path, "sha256:" + Convert.ToHexStringLower(compressedHash.GetHashAndReset()),
            "sha256:" + Convert.ToHexStringLower(tarHash.GetHashAndReset()), compressedSize, tarSize, files, dirs, fileBytes, candidates);
    }

    private static string Extension(ContentKind k) => k switch { ContentKind.Text => "txt", ContentKind.Binary => "bin", _ => "dat" };

    private static byte[] Content(ref Xoshiro rng, ContentKind kind, int size, byte[] pool)
    {
        var data = new byte[size];
        switch (kind)
        {
            case ContentKind.Binary:
                rng.Fill(data);
                break;
            case ContentKind.Mixed:
                for (int at = 0; at < size; at += 64)
                {
                    int n = Math.Min(64, size - at);
                    if (rng.Next(4) == 0) rng.Fill(data.AsSpan(at, n));
                    else pool.AsSpan(rng.Next(256) * 64, n).CopyTo(data.AsSpan(at));
                }
                break;
            default:
            {
                var sb = new StringBuilder(size + 64);
                while (sb.Length < size)
                {
                    int words = 4 + rng.Next(12);
                    for (int w = 0; w < words; w++) sb.Append(Words[rng.Next(Words.Length)]).Append(w + 1 < words ? ' ' : '\n');
                }
                Encoding.ASCII.GetBytes(sb.ToString(0, size), data);
                break;
            }
        }
        return data;
    }

    private static void AddDir(TarWriter tar, string name) =>
        tar.WriteEntry(new UstarTarEntry(TarEntryType.Directory, name) { Mode = (UnixFileMode)0b111_101_101, ModificationTime = MTime });

    private static void AddFile(TarWriter tar, string name, byte[] content, int mode)
    {
        var e = new UstarTarEntry(TarEntryType.RegularFile, name)
        {
            Mode = (UnixFileMode)mode, ModificationTime = MTime, DataStream = new MemoryStream(content, writable: false),
        };
        tar.WriteEntry(e);
    }

    /// <summary>A write-only pass-through that hashes and counts what goes through it.</summary>
    private sealed class HashingStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override long Length => _length;
        private long _length;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            _length += buffer.Length;
            inner.Write(buffer);
        }
    }
}
