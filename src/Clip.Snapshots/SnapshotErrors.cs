namespace Clip.Snapshots;

/// <summary>The containerd error classes (errdefs) a snapshot operation can fail with.</summary>
public enum SnapshotErrorKind
{
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
}

/// <summary>
/// The one exception family for containerd-visible failures. The daemon maps <see cref="Kind"/>
/// to a gRPC status code in one function; anything else that escapes is an internal error.
/// </summary>
public abstract class SnapshotException : Exception
{
    private protected SnapshotException(string message, Exception? inner = null) : base(message, inner) { }

    public abstract SnapshotErrorKind Kind { get; }
}

/// <summary>The key, name or parent does not exist.</summary>
public sealed class SnapshotNotFoundException(string message) : SnapshotException(message)
{
    public override SnapshotErrorKind Kind => SnapshotErrorKind.NotFound;
}

/// <summary>The key or name is taken; for a remote Prepare: the target was made here, skip the download.</summary>
public sealed class SnapshotAlreadyExistsException(string message) : SnapshotException(message)
{
    public override SnapshotErrorKind Kind => SnapshotErrorKind.AlreadyExists;
}

/// <summary>The snapshot is in the wrong state for the call (has children, not active, layer unavailable).</summary>
public sealed class SnapshotFailedPreconditionException(string message, Exception? inner = null) : SnapshotException(message, inner)
{
    public override SnapshotErrorKind Kind => SnapshotErrorKind.FailedPrecondition;
}

/// <summary>The request itself is malformed (bad filter, immutable field path, parent not committed).</summary>
public sealed class SnapshotInvalidArgumentException(string message, Exception? inner = null) : SnapshotException(message, inner)
{
    public override SnapshotErrorKind Kind => SnapshotErrorKind.InvalidArgument;
}
