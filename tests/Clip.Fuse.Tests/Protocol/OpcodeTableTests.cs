using Clip.Fuse.Protocol;
using Clip.Interop;

namespace Clip.Fuse.Tests.Protocol;

/// <summary>The opcode table answers every opcode of fuse.h 7.45 as a read-only filesystem should.</summary>
public class OpcodeTableTests
{
    [Fact]
    public void Every_fuse_h_opcode_is_in_the_table_with_its_header_name()
    {
        foreach (var op in Enum.GetValues<FuseOpcode>().Where(o => o != FuseOpcode.CuseInit))
        {
            var info = OpcodeTable.Get((uint)op);
            Assert.NotEqual("UNKNOWN", info.Name);
        }
        Assert.Equal("BATCH_FORGET", OpcodeTable.Get((uint)FuseOpcode.BatchForget).Name);
        Assert.Equal("COPY_FILE_RANGE_64", OpcodeTable.Get((uint)FuseOpcode.CopyFileRange64).Name);
        Assert.Equal("READDIRPLUS", OpcodeTable.Get((uint)FuseOpcode.Readdirplus).Name);
    }

    [Theory]
    [InlineData(FuseOpcode.Setattr)]
    [InlineData(FuseOpcode.Symlink)]
    [InlineData(FuseOpcode.Mknod)]
    [InlineData(FuseOpcode.Mkdir)]
    [InlineData(FuseOpcode.Unlink)]
    [InlineData(FuseOpcode.Rmdir)]
    [InlineData(FuseOpcode.Rename)]
    [InlineData(FuseOpcode.Rename2)]
    [InlineData(FuseOpcode.Link)]
    [InlineData(FuseOpcode.Write)]
    [InlineData(FuseOpcode.Create)]
    [InlineData(FuseOpcode.Setxattr)]
    [InlineData(FuseOpcode.Removexattr)]
    [InlineData(FuseOpcode.Fallocate)]
    [InlineData(FuseOpcode.CopyFileRange)]
    [InlineData(FuseOpcode.CopyFileRange64)]
    [InlineData(FuseOpcode.Tmpfile)]
    public void Write_type_operations_are_refused_with_EROFS(FuseOpcode op)
    {
        var info = OpcodeTable.Get((uint)op);
        Assert.Equal(OpcodeDisposition.ReadOnly, info.Disposition);
        Assert.Equal(Errno.EROFS, OpcodeTable.RefusalErrno(info.Disposition));
    }

    [Theory]
    [InlineData(FuseOpcode.Fsync)]
    [InlineData(FuseOpcode.Getlk)]
    [InlineData(FuseOpcode.Ioctl)]
    [InlineData(FuseOpcode.Poll)]
    [InlineData(FuseOpcode.Lseek)]
    [InlineData(FuseOpcode.Statx)]
    [InlineData(FuseOpcode.Bmap)]
    [InlineData(FuseOpcode.CuseInit)]
    public void Unsupported_operations_are_answered_ENOSYS(FuseOpcode op) =>
        Assert.Equal(Errno.ENOSYS, OpcodeTable.RefusalErrno(OpcodeTable.Get((uint)op).Disposition));

    [Fact]
    public void Unknown_opcodes_are_not_supported() =>
        Assert.Equal(OpcodeDisposition.NotSupported, OpcodeTable.Get(9999).Disposition);

    [Theory]
    [InlineData(FuseOpcode.Forget)]
    [InlineData(FuseOpcode.BatchForget)]
    [InlineData(FuseOpcode.Interrupt)]
    public void Forget_and_interrupt_get_no_reply(FuseOpcode op) =>
        Assert.Equal(OpcodeDisposition.ServedNoReply, OpcodeTable.Get((uint)op).Disposition);
}
