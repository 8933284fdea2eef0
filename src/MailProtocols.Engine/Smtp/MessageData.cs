using System;
using System.Buffers;
using System.IO;
using System.Threading;
using MimeKit;

namespace MailProtocols.Engine.Smtp;

/// <summary>
/// A message serialized once, as it goes on the wire: its exact size (for SIZE and BDAT) and,
/// up to <see cref="BufferLimit"/>, its bytes in a pooled buffer. A larger message is only
/// counted, and serialized again as it is sent, so memory stays flat for a 100 MB attachment.
/// </summary>
internal sealed class MessageData : IDisposable
{
    public const int BufferLimit = 1024 * 1024;

    private readonly MimeMessage _mime;
    private readonly FormatOptions _format;
    private byte[]? _bytes;

    private MessageData(MimeMessage mime, FormatOptions format, byte[]? bytes, long length)
    {
        _mime = mime;
        _format = format;
        _bytes = bytes;
        Length = length;
    }

    public long Length { get; }

    public static MessageData Serialize(MimeMessage mime, FormatOptions format, CancellationToken token)
    {
        var spool = new Spool();
        try
        {
            mime.WriteTo(format, spool, token);
        }
        catch
        {
            spool.Release();
            throw;
        }

        return new MessageData(mime, format, spool.Bytes, spool.Length);
    }

    /// <summary>Writes the message, byte for byte what <see cref="Length"/> counted.</summary>
    public void WriteTo(Stream destination, CancellationToken token)
    {
        if (_bytes != null)
        {
            destination.Write(_bytes, 0, (int)Length);
        }
        else
        {
            _mime.WriteTo(_format, destination, token);
        }
    }

    public void Dispose()
    {
        if (_bytes != null)
        {
            ArrayPool<byte>.Shared.Return(_bytes);
            _bytes = null;
        }
    }

    /// <summary>Collects what is written in a pooled buffer until it passes the limit; after
    /// that it only counts.</summary>
    private sealed class Spool : Stream
    {
        public byte[]? Bytes { get; private set; } = ArrayPool<byte>.Shared.Rent(16 * 1024);

        public override long Length => _length;

        private long _length;

        public void Release()
        {
            if (Bytes != null)
            {
                ArrayPool<byte>.Shared.Return(Bytes);
                Bytes = null;
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            var end = _length + count;
            if (Bytes != null && end > BufferLimit)
            {
                Release();
            }
            else if (Bytes != null && end > Bytes.Length)
            {
                var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(BufferLimit, Math.Max(end, 2L * Bytes.Length)));
                Buffer.BlockCopy(Bytes, 0, larger, 0, (int)_length);
                ArrayPool<byte>.Shared.Return(Bytes);
                Bytes = larger;
            }

            if (Bytes != null)
            {
                Buffer.BlockCopy(buffer, offset, Bytes, (int)_length, count);
            }

            _length = end;
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;

        public override long Position
        {
            get => _length;
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
