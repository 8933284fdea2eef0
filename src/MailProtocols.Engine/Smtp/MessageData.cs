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
            var exact = new ExactLength(destination, Length);
            try
            {
                _mime.WriteTo(_format, exact, token);
            }
            catch (IOException ex) when (!exact.DestinationFailed)
            {
                throw new MessageSourceException($"An attachment could not be read while the message was sent: {ex.Message}", ex);
            }

            exact.Finish();
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

    /// <summary>Passes on what the second serialization writes, but never more than the count
    /// announced, and its last byte only once the serialization ended at exactly that count: a
    /// message that changed in between never reaches the server as a complete chunk, and no byte
    /// of it as a command.</summary>
    private sealed class ExactLength : Stream
    {
        private readonly Stream _destination;
        private readonly long _length;
        private readonly byte[] _last = new byte[1];
        private long _written; // counted so far, the held-back last byte included
        private bool _holding;

        public ExactLength(Stream destination, long length)
        {
            _destination = destination;
            _length = length;
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (count == 0)
            {
                return;
            }

            if (_written + count > _length)
            {
                throw Changed($"more than the {_length:N0} bytes counted");
            }

            try
            {
                if (_holding)
                {
                    _destination.Write(_last, 0, 1);
                }

                _destination.Write(buffer, offset, count - 1);
            }
            catch (IOException)
            {
                DestinationFailed = true;
                throw;
            }

            _last[0] = buffer[offset + count - 1];
            _holding = true;
            _written += count;
        }

        /// <summary>A write to the connection failed (not a read of the message's sources).</summary>
        public bool DestinationFailed { get; private set; }

        public void Finish()
        {
            if (_written != _length)
            {
                throw Changed($"{_written:N0} bytes, not the {_length:N0} counted");
            }

            if (_holding)
            {
                try
                {
                    _destination.Write(_last, 0, 1);
                }
                catch (IOException)
                {
                    DestinationFailed = true;
                    throw;
                }
            }
        }

        private static MessageSourceException Changed(string what) =>
            new($"The message changed while it was sent (an attachment was modified?): it came out as {what}.");

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written;

        public override long Position
        {
            get => _written;
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
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

/// <summary>The message could not be written out as counted: an attachment could not be read,
/// or changed since it was counted. What went of it is incomplete.</summary>
internal sealed class MessageSourceException : Exception
{
    public MessageSourceException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
