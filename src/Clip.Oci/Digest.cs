using System.Security.Cryptography;

namespace Clip.Oci;

/// <summary>
/// A content digest "algorithm:hex" (OCI image-spec descriptor.md). sha256 and sha512 are
/// accepted; the hex part is validated, so a digest is always safe to use in a file name.
/// </summary>
public readonly record struct Digest : IComparable<Digest>
{
    private Digest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    public string Algorithm { get; }
    public string Hex { get; }

    public bool IsEmpty => Algorithm is null;

    public static Digest Parse(string value) =>
        TryParse(value, out var d) ? d : throw new FormatException($"invalid digest \"{value}\": expected sha256:<64 hex> or sha512:<128 hex>");

    public static bool TryParse(string? value, out Digest digest)
    {
        digest = default;
        if (string.IsNullOrEmpty(value)) return false;
        int colon = value.IndexOf(':');
        if (colon <= 0) return false;
        string alg = value[..colon];
        string hex = value[(colon + 1)..];
        int expected = alg switch { "sha256" => 64, "sha512" => 128, _ => -1 };
        if (hex.Length != expected) return false;
        foreach (char c in hex)
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return false;
        digest = new Digest(alg, hex);
        return true;
    }

    /// <summary>The sha256 digest of <paramref name="data"/>.</summary>
    public static Digest Sha256(ReadOnlySpan<byte> data) => FromSha256Hash(SHA256.HashData(data));

    /// <summary>Wraps a finished 32-byte sha256 hash.</summary>
    public static Digest FromSha256Hash(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != 32) throw new ArgumentException("a sha256 hash is 32 bytes", nameof(hash));
        return new Digest("sha256", Convert.ToHexStringLower(hash));
    }

    /// <summary>The raw hash bytes.</summary>
    public byte[] HashBytes() => Convert.FromHexString(Hex);

    /// <summary>A fresh hasher for this digest's algorithm.</summary>
    public IncrementalHash CreateHasher() => Algorithm switch
    {
        "sha256" => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
        "sha512" => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
        _ => throw new InvalidOperationException("empty digest"),
    };

    /// <summary>Whether the hasher's result equals this digest.</summary>
    public bool Matches(ReadOnlySpan<byte> hash) => Convert.ToHexStringLower(hash) == Hex;

    public override string ToString() => IsEmpty ? "" : $"{Algorithm}:{Hex}";

    public int CompareTo(Digest other) => string.CompareOrdinal(ToString(), other.ToString());

    /// <summary>Thrown when fetched bytes do not hash to the digest that named them.</summary>
    public static Exception Mismatch(Digest expected, string actual, string what) =>
        new DigestMismatchException($"{what}: digest mismatch: expected {expected}, got {actual}");
}

/// <summary>Bytes did not hash to the digest that named them; they were not used.</summary>
public sealed class DigestMismatchException(string message) : IOException(message);
