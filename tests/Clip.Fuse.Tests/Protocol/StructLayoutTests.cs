using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Clip.Fuse.Protocol;

namespace Clip.Fuse.Tests.Protocol;

/// <summary>The mirrored structs have exactly the sizes and field offsets of linux/fuse.h 7.45.</summary>
public class StructLayoutTests
{
    [Theory]
    [InlineData(typeof(FuseInHeader), 40)]
    [InlineData(typeof(FuseOutHeader), 16)]
    [InlineData(typeof(FuseAttr), 88)]
    [InlineData(typeof(FuseEntryOut), 128)]
    [InlineData(typeof(FuseAttrOut), 104)]
    [InlineData(typeof(FuseGetattrIn), 16)]
    [InlineData(typeof(FuseInitIn), 64)]
    [InlineData(typeof(FuseInitOut), 64)]
    [InlineData(typeof(FuseOpenIn), 8)]
    [InlineData(typeof(FuseOpenOut), 16)]
    [InlineData(typeof(FuseReadIn), 40)]
    [InlineData(typeof(FuseReleaseIn), 24)]
    [InlineData(typeof(FuseFlushIn), 24)]
    [InlineData(typeof(FuseAccessIn), 8)]
    [InlineData(typeof(FuseGetxattrIn), 8)]
    [InlineData(typeof(FuseGetxattrOut), 8)]
    [InlineData(typeof(FuseForgetIn), 8)]
    [InlineData(typeof(FuseBatchForgetIn), 8)]
    [InlineData(typeof(FuseForgetOne), 16)]
    [InlineData(typeof(FuseInterruptIn), 8)]
    [InlineData(typeof(FuseKstatfs), 80)]
    [InlineData(typeof(FuseDirent), 24)]
    public void Struct_has_the_size_of_fuse_h(Type type, int size)
    {
        Assert.Equal(size, Marshal.SizeOf(type));
        Assert.Equal(size, (int)type.GetField("WireSize")!.GetValue(null)!);
    }

    [Fact]
    public void Compat_sizes_are_prefixes_ending_where_fuse_h_says()
    {
        // fuse_attr without blksize and flags is 80 bytes: entry_out 40 + 80 = 120, attr_out 16 + 80 = 96.
        Assert.Equal(80, (int)Marshal.OffsetOf<FuseAttr>(nameof(FuseAttr.Blksize)));
        Assert.Equal(FuseKernel.CompatEntryOutSize, (int)Marshal.OffsetOf<FuseEntryOut>(nameof(FuseEntryOut.Attr)) + 80);
        Assert.Equal(FuseKernel.CompatAttrOutSize, (int)Marshal.OffsetOf<FuseAttrOut>(nameof(FuseAttrOut.Attr)) + 80);
        // init_out: 7.5..7.22 ends after max_write; 7.23 added time_gran.
        Assert.Equal(FuseKernel.Compat22InitOutSize, (int)Marshal.OffsetOf<FuseInitOut>(nameof(FuseInitOut.TimeGran)));
        Assert.Equal(FuseKernel.CompatInitOutSize, (int)Marshal.OffsetOf<FuseInitOut>(nameof(FuseInitOut.MaxReadahead)));
        // statfs before 7.4 ended after namelen.
        Assert.Equal(FuseKernel.CompatStatfsSize, (int)Marshal.OffsetOf<FuseKstatfs>(nameof(FuseKstatfs.Frsize)));
        // read_in before 7.9: fh, offset, size, padding.
        Assert.Equal(FuseKernel.CompatReadInSize, (int)Marshal.OffsetOf<FuseReadIn>(nameof(FuseReadIn.LockOwner)));
    }

    [Fact]
    public void Field_offsets_match_fuse_h()
    {
        Assert.Equal(36, (int)Marshal.OffsetOf<FuseInHeader>(nameof(FuseInHeader.TotalExtLength)));
        Assert.Equal(60, (int)Marshal.OffsetOf<FuseAttr>(nameof(FuseAttr.Mode)));
        Assert.Equal(76, (int)Marshal.OffsetOf<FuseAttr>(nameof(FuseAttr.Rdev)));
        Assert.Equal(16, (int)Marshal.OffsetOf<FuseInitIn>(nameof(FuseInitIn.Flags2)));
        Assert.Equal(20, (int)Marshal.OffsetOf<FuseInitOut>(nameof(FuseInitOut.MaxWrite)));
        Assert.Equal(28, (int)Marshal.OffsetOf<FuseInitOut>(nameof(FuseInitOut.MaxPages)));
        Assert.Equal(32, (int)Marshal.OffsetOf<FuseInitOut>(nameof(FuseInitOut.Flags2)));
        Assert.Equal(36, (int)Marshal.OffsetOf<FuseInitOut>(nameof(FuseInitOut.MaxStackDepth)));
        Assert.Equal(40, (int)Marshal.OffsetOf<FuseInitOut>(nameof(FuseInitOut.RequestTimeout)));
        Assert.Equal(12, (int)Marshal.OffsetOf<FuseOpenOut>(nameof(FuseOpenOut.BackingId)));
    }

    [Fact]
    public void A_short_source_reads_as_an_older_prefix_with_zero_tail()
    {
        var full = new FuseReadIn { Fh = 7, Offset = 4096, Size = 512, LockOwner = 99, Flags = 3 };
        var bytes = Support.Kernel.Bytes(full);
        var old = Wire.Read<FuseReadIn>(bytes.AsSpan(0, FuseKernel.CompatReadInSize));
        Assert.Equal((7ul, 4096ul, 512u, 0ul, 0u), (old.Fh, old.Offset, old.Size, old.LockOwner, old.Flags));
        Assert.Equal(Unsafe.SizeOf<FuseReadIn>(), bytes.Length);
    }
}
