using System.Runtime.InteropServices;

namespace Clip.Oci;

/// <summary>Chooses a manifest from an index for a platform (containerd's platforms.Only semantics, simplified to exact os/arch and variant defaults).</summary>
public static class PlatformMatcher
{
    /// <summary>This machine's platform, in OCI names.</summary>
    public static Platform Host { get; } = new()
    {
        Os = "linux",
        Architecture = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "amd64",
            Architecture.Arm64 => "arm64",
            Architecture.Arm => "arm",
            Architecture.X86 => "386",
            Architecture.S390x => "s390x",
            Architecture.Ppc64le => "ppc64le",
            Architecture.RiscV64 => "riscv64",
            Architecture.LoongArch64 => "loong64",
            var a => a.ToString().ToLowerInvariant(),
        },
        Variant = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "v8" : null,
    };

    /// <summary>Whether <paramref name="candidate"/> can run where <paramref name="wanted"/> is asked for.</summary>
    public static bool Matches(Platform wanted, Platform? candidate)
    {
        if (candidate is null) return false;
        if (!string.Equals(wanted.Os, candidate.Os, StringComparison.OrdinalIgnoreCase)) return false;
        if (!string.Equals(wanted.Architecture, candidate.Architecture, StringComparison.OrdinalIgnoreCase)) return false;
        string wv = NormaliseVariant(wanted.Architecture, wanted.Variant);
        string cv = NormaliseVariant(candidate.Architecture, candidate.Variant);
        return wv == "" || cv == "" || wv == cv;
    }

    /// <summary>The first descriptor of <paramref name="index"/> that matches <paramref name="wanted"/>, or null.</summary>
    public static Descriptor? Select(ImageIndex index, Platform wanted) =>
        index.Manifests.FirstOrDefault(d => MediaTypes.IsManifest(d.MediaType) && Matches(wanted, d.Platform))
        ?? index.Manifests.FirstOrDefault(d => d.Platform is null && MediaTypes.IsManifest(d.MediaType) && index.Manifests.Count == 1);

    private static string NormaliseVariant(string arch, string? variant) =>
        (arch, variant) switch
        {
            ("arm64", "v8") => "",
            (_, null) => "",
            _ => variant,
        };
}
