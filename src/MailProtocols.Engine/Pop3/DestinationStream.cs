using System;
using System.IO;

namespace MailProtocols.Engine.Pop3;

/// <summary>A failure to write where a message is being saved (disk full, no permission), told
/// apart from a failure of the connection, which is also an IOException.</summary>
internal sealed class DestinationWriteException : Exception
{
    public DestinationWriteException(Exception inner) : base(inner.Message, inner)
    {
    }
}

/// <summary>A write-only wrapper that turns the destination's I/O errors into
/// <see cref="DestinationWriteException"/>.</summary>
internal sealed class DestinationStream : WriteOnlyStream
{
    private readonly Stream _inner;

    public DestinationStream(Stream inner) => _inner = inner;

    public override void Write(byte[] buffer, int offset, int count)
    {
        try
        {
            _inner.Write(buffer, offset, count);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw new DestinationWriteException(ex);
        }
    }

    public override void Flush() => Run(_inner.Flush);

    public void Run(Action write)
    {
        try
        {
            write();
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw new DestinationWriteException(ex);
        }
    }
}
