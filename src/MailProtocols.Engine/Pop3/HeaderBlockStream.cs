using System;
using System.IO;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// Reads a message up to and including the blank line that ends its header block, then ends:
/// what TOP n 0 gives from a server, so the headers of a saved file are parsed as a listing's
/// are, without the parser reading on through the bodies.
/// </summary>
internal sealed class HeaderBlockStream : Stream
{
    private readonly Stream _inner;
    private bool _atLineStart = true; // the file's start counts as a line start: a blank first line ends an empty block
    private bool _afterLineStartCr;
    private bool _ended;

    public HeaderBlockStream(Stream inner) => _inner = inner;

    public override int Read(byte[] buffer, int offset, int count)
    {
        if (_ended || count == 0)
        {
            return 0;
        }

        var read = _inner.Read(buffer, offset, count);
        for (var i = 0; i < read; i++)
        {
            var b = buffer[offset + i];
            if (b == (byte)'\n' && (_atLineStart || _afterLineStartCr))
            {
                _ended = true;
                return i + 1;
            }

            _afterLineStartCr = b == (byte)'\r' && _atLineStart;
            _atLineStart = b == (byte)'\n';
        }

        return read;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
