using System;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Threading;

namespace MailProtocols.Engine;

/// <summary>
/// The stream of a connected socket in which every Read and Write ends within the timeout: a
/// read that gets no byte in time, or a write the peer does not take in time, throws an
/// <see cref="IOException"/> whose inner exception is a <see cref="TimeoutException"/>. The
/// token, or <see cref="Abort"/>, closes the socket, which ends a wait at once. Everything above
/// it (MailKit's client, TLS) inherits the bound, whatever it does per command.
/// </summary>
internal sealed class DeadlineStream : Stream
{
    private readonly Socket _socket;
    private readonly CancellationToken _token;
    private readonly CancellationTokenRegistration _onCancel;
    private readonly byte[] _firstBytes = new byte[2];
    private Exception? _abortReason;
    private long _bytesRead;
    private int _timedOut; // a read or write ran out of time
    private int _readTimeout;
    private long _readDeadline; // Stopwatch timestamp by which reads must end; 0: none
    private int _socketReadTimeout; // what the socket was last told
    private int _writeTimeout;

    public DeadlineStream(Socket socket, TimeSpan timeout, CancellationToken token)
    {
        _socket = socket;
        _token = token;
        ReadTimeout = WriteTimeout = ToMilliseconds(timeout);
        _onCancel = token.Register(() => Abort(new OperationCanceledException(token)));
    }

    /// <summary>The connected socket, for unit tests.</summary>
    internal Socket Socket => _socket;

    /// <summary>True once a read or write ran out of time, or the stream was aborted for a timeout.</summary>
    public bool TimedOut => Volatile.Read(ref _timedOut) != 0 || Volatile.Read(ref _abortReason) is TimeoutException;

    /// <summary>Bytes received so far (zero: the server has sent nothing at all).</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    /// <summary>True when the server's first two bytes open a TLS record (handshake 0x16 or alert
    /// 0x15, version 3.x): it speaks TLS where plain text was expected.</summary>
    public bool ReceivedTlsRecord => BytesRead >= 2 && (_firstBytes[0] == 0x16 || _firstBytes[0] == 0x15) && _firstBytes[1] == 0x03;

    /// <summary>True when the server's first bytes were "+O" or "-E", as a POP3 status line starts:
    /// it speaks plain text where a TLS handshake was expected.</summary>
    public bool ReceivedPop3Status => BytesRead >= 2 && ((_firstBytes[0] == (byte)'+' && _firstBytes[1] == (byte)'O') || (_firstBytes[0] == (byte)'-' && _firstBytes[1] == (byte)'E'));

    /// <summary>True when the server's first bytes were digits, as an SMTP reply starts: it speaks
    /// plain text where a TLS handshake was expected.</summary>
    public bool ReceivedDigits => BytesRead >= 2 && _firstBytes[0] >= (byte)'0' && _firstBytes[0] <= (byte)'9' && _firstBytes[1] >= (byte)'0' && _firstBytes[1] <= (byte)'9';

    /// <summary>Ends the connection: a read or write waiting now, and every later one, throws.
    /// A <see cref="TimeoutException"/> reason counts as a timeout (<see cref="TimedOut"/>).</summary>
    public void Abort(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _abortReason, reason, null) != null)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException || ex is ObjectDisposedException)
        {
            // Already closed: the dispose below is all that is left to do.
        }

        _socket.Dispose();
    }

    /// <summary>Bytes received and not yet read (0 once the connection is closed).</summary>
    public int Available
    {
        get
        {
            try
            {
                return _socket.Available;
            }
            catch (Exception ex) when (ex is SocketException || ex is ObjectDisposedException)
            {
                return 0;
            }
        }
    }

    /// <summary>True when a read would not wait: bytes have come, or the peer closed the connection.</summary>
    public bool Readable
    {
        get
        {
            try
            {
                return _socket.Poll(0, SelectMode.SelectRead);
            }
            catch (Exception ex) when (ex is SocketException || ex is ObjectDisposedException)
            {
                return true;
            }
        }
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override bool CanTimeout => true;

    public override int ReadTimeout
    {
        get => _readTimeout;
        set => _socket.ReceiveTimeout = _socketReadTimeout = _readTimeout = value;
    }

    public override int WriteTimeout
    {
        get => _writeTimeout;
        set => _socket.SendTimeout = _writeTimeout = value;
    }

    /// <summary>Sets when every read, however many the layer above makes (TLS reads until it
    /// has a whole record), must have ended: a line is bounded end to end, not per read.</summary>
    public void ReadBy(TimeSpan left) =>
        _readDeadline = Stopwatch.GetTimestamp() + Math.Max(1, (long)(left.TotalSeconds * Stopwatch.Frequency));

    /// <summary>Reads are bounded by <see cref="ReadTimeout"/> alone again.</summary>
    public void NoReadDeadline()
    {
        _readDeadline = 0;
        SetSocketReadTimeout(_readTimeout);
    }

    private void SetSocketReadTimeout(int ms)
    {
        if (_socketReadTimeout != ms)
        {
            _socket.ReceiveTimeout = _socketReadTimeout = ms;
        }
    }

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ThrowIfAborted();
        if (count == 0)
        {
            return 0;
        }

        int read;
        try
        {
            if (_readDeadline != 0)
            {
                var left = (_readDeadline - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency;
                if (left < 1)
                {
                    throw new SocketException((int)SocketError.TimedOut);
                }

                SetSocketReadTimeout((int)Math.Min(_readTimeout, Math.Ceiling(left)));
            }

            read = _socket.Receive(buffer, offset, count, SocketFlags.None);
        }
        catch (Exception ex) when (ex is SocketException || ex is ObjectDisposedException)
        {
            throw Failure(ex, receiving: true);
        }

        // A shutdown by Abort wakes a waiting receive with "end of stream": that is not the server's doing.
        ThrowIfAborted();
        if (read > 0)
        {
            NoteReceived(buffer, offset, read);
        }

        return read;
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ThrowIfAborted();
        try
        {
            while (count > 0)
            {
                var sent = _socket.Send(buffer, offset, count, SocketFlags.None);
                offset += sent;
                count -= sent;
            }
        }
        catch (Exception ex) when (ex is SocketException || ex is ObjectDisposedException)
        {
            throw Failure(ex, receiving: false);
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _onCancel.Dispose();
            _socket.Dispose();
        }

        base.Dispose(disposing);
    }

    private static int ToMilliseconds(TimeSpan timeout) =>
        (int)Math.Min(int.MaxValue, Math.Max(1, Math.Ceiling(timeout.TotalMilliseconds)));

    private void NoteReceived(byte[] buffer, int offset, int read)
    {
        var before = Interlocked.Add(ref _bytesRead, read) - read;
        for (var i = (int)Math.Min(before, _firstBytes.Length); i < _firstBytes.Length && i - before < read; i++)
        {
            _firstBytes[i] = buffer[offset + i - before];
        }
    }

    private Exception Failure(Exception ex, bool receiving)
    {
        ThrowIfAborted();
        if (ex is SocketException se && (se.SocketErrorCode == SocketError.TimedOut || se.SocketErrorCode == SocketError.WouldBlock))
        {
            Volatile.Write(ref _timedOut, 1);
            var message = receiving
                ? _readDeadline != 0
                    ? $"The server took longer than {_readTimeout / 1000.0:0.###} s to send one line."
                    : $"The server sent nothing for {_readTimeout / 1000.0:0.###} s."
                : $"The server took in nothing for {_writeTimeout / 1000.0:0.###} s.";
            return new IOException(message, new TimeoutException(message, ex));
        }

        return ex is ObjectDisposedException ? new IOException("The connection is closed.", ex) : new IOException(ex.Message, ex);
    }

    private void ThrowIfAborted()
    {
        switch (Volatile.Read(ref _abortReason))
        {
            case null:
                return;
            case OperationCanceledException:
                throw new OperationCanceledException(_token);
            case var reason:
                throw new IOException(reason.Message, reason);
        }
    }
}
