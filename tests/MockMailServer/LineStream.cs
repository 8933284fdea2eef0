using System;
using System.IO;
using System.Text;

namespace MockMail;

internal enum LineStatus
{
    Ok,
    TooLong,
    Eof,
}

/// <summary>
/// Buffered line reader and reply writer over a (possibly TLS) stream, shared by the mock protocols.
/// Replies are collected in an output buffer and only written out when the reader has to block for
/// more input; each such "flush, then wait" is reported through the round-trip callback.
/// </summary>
internal sealed class LineStream
{
    private static readonly byte[] CrLf = { 13, 10 };

    private readonly MemoryStream _out = new();
    private readonly Action? _onRoundTrip;
    private Stream _stream;
    private byte[] _in;
    private int _start;
    private int _end;

    // Trickle: output from _trickleFrom to _trickleTo (-1 = open, to the end of what is queued) goes out one byte
    // at a time, _trickleMs apart (0 = off); _trickleWait returns false when the wait was interrupted.
    private int _trickleMs;
    private long _trickleFrom;
    private long _trickleTo = -1;
    private bool _trickleStarted;
    private Func<int, bool>? _trickleWait;

    public LineStream(Stream stream, Action? onRoundTrip, int bufferSize = 16384)
    {
        _stream = stream;
        _onRoundTrip = onRoundTrip;
        _in = new byte[bufferSize];
    }

    public bool HasBufferedInput => _end > _start;

    public bool HasPendingOutput => _out.Length > 0;

    /// <summary>Switches to a new transport (e.g. after STARTTLS). Buffered input is discarded on purpose
    /// (plaintext sent before the TLS handshake must not be processed afterwards).</summary>
    public void ReplaceStream(Stream stream)
    {
        _stream = stream;
        _start = 0;
        _end = 0;
    }

    public void Write(string text)
    {
        if (text.Length == 0)
        {
            return;
        }

        byte[] bytes = Encoding.UTF8.GetBytes(text);
        _out.Write(bytes, 0, bytes.Length);
    }

    /// <summary>Queues raw bytes (e.g. message content).</summary>
    public void Write(byte[] buffer, int offset, int count)
    {
        if (count > 0)
        {
            _out.Write(buffer, offset, count);
        }
    }

    /// <summary>Bytes queued and not yet written.</summary>
    public long PendingOutputLength => _out.Length;

    public void WriteLine(string line)
    {
        Write(line);
        _out.Write(CrLf, 0, 2);
    }

    /// <summary>Output queued from now on (until <see cref="EndTrickle"/>, or until the reader waits for input) is
    /// written one byte at a time, <paramref name="delayMs"/> apart; <paramref name="wait"/> does the waiting and
    /// returns false if it was interrupted, which ends the write with a <see cref="TrickleStoppedException"/>.</summary>
    public void BeginTrickle(int delayMs, Func<int, bool> wait)
    {
        _trickleMs = delayMs;
        _trickleWait = wait;
        _trickleFrom = _out.Length;
        _trickleTo = -1;
        _trickleStarted = false;
    }

    /// <summary>The command is handled: output queued after this point is written normally.</summary>
    public void EndTrickle()
    {
        if (_trickleMs > 0 && _trickleTo < 0)
        {
            if (_out.Length > _trickleFrom)
            {
                _trickleTo = _out.Length;
            }
            else
            {
                _trickleMs = 0;
            }
        }
    }

    /// <summary>Writes pending output without counting a round trip.</summary>
    public void Flush()
    {
        if (_out.Length == 0)
        {
            return;
        }

        if (_trickleMs > 0)
        {
            FlushTrickle();
            return;
        }

        _stream.Write(_out.GetBuffer(), 0, (int)_out.Length);
        _out.SetLength(0);
        _stream.Flush();
    }

    /// <summary>Writes pending output and counts a round trip if there was any (the caller is about to wait).</summary>
    public void FlushForWait()
    {
        if (_out.Length == 0)
        {
            return;
        }

        Flush();
        _trickleMs = 0; // about to wait for the client: the trickled response is complete
        _onRoundTrip?.Invoke();
    }

    private void FlushTrickle()
    {
        byte[] buffer = _out.GetBuffer();
        int length = (int)_out.Length;
        int from = (int)Math.Min(_trickleFrom, length);
        int to = _trickleTo < 0 ? length : (int)Math.Min(_trickleTo, length);
        try
        {
            if (from > 0)
            {
                _stream.Write(buffer, 0, from);
                _stream.Flush();
            }

            for (int i = from; i < to; i++)
            {
                if (_trickleStarted && !_trickleWait!(_trickleMs))
                {
                    throw new TrickleStoppedException(null);
                }

                _trickleStarted = true;
                _stream.Write(buffer, i, 1);
                _stream.Flush();
            }

            if (to < length)
            {
                _stream.Write(buffer, to, length - to);
                _stream.Flush();
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            throw new TrickleStoppedException(ex);
        }

        _out.SetLength(0);
        if (_trickleTo >= 0)
        {
            _trickleMs = 0;
        }
        else
        {
            _trickleFrom = 0;
        }
    }

    /// <summary>
    /// Reads one line terminated by LF (CRLF or bare LF). <paramref name="line"/> excludes the terminator;
    /// <paramref name="crlf"/> tells whether it was CRLF. A line whose content exceeds
    /// <paramref name="maxLength"/> bytes is consumed up to its end without being buffered whole and
    /// reported as <see cref="LineStatus.TooLong"/> with its first maxLength bytes in <paramref name="line"/>.
    /// A partial line at end of stream is dropped (Eof).
    /// </summary>
    public LineStatus ReadLine(int maxLength, out byte[] line, out bool crlf)
    {
        line = Array.Empty<byte>();
        crlf = false;
        int scanned = 0;
        while (true)
        {
            int from = _start + scanned;
            int idx = from < _end ? Array.IndexOf(_in, (byte)'\n', from, _end - from) : -1;
            if (idx >= 0)
            {
                int len = idx - _start;
                crlf = len > 0 && _in[idx - 1] == (byte)'\r';
                int contentLength = crlf ? len - 1 : len;
                if (contentLength > maxLength)
                {
                    line = Slice(_start, maxLength);
                    _start = idx + 1;
                    return LineStatus.TooLong;
                }

                line = Slice(_start, contentLength);
                _start = idx + 1;
                return LineStatus.Ok;
            }

            scanned = _end - _start;
            if (scanned > maxLength + 1)
            {
                line = Slice(_start, maxLength);
                return DiscardRestOfLine();
            }

            if (Fill(maxLength + 2) == 0)
            {
                return LineStatus.Eof;
            }
        }
    }

    /// <summary>Reads up to <paramref name="count"/> raw bytes (buffered bytes first). Returns 0 at end of stream.</summary>
    public int ReadRaw(byte[] destination, int offset, int count)
    {
        if (count <= 0)
        {
            return 0;
        }

        if (_start == _end && Fill(_in.Length) == 0)
        {
            return 0;
        }

        int n = Math.Min(count, _end - _start);
        Buffer.BlockCopy(_in, _start, destination, offset, n);
        _start += n;
        return n;
    }

    /// <summary>Reads and drops input (no round-trip counting). Returns 0 at end of stream.</summary>
    public int ReadDiscard()
    {
        _start = 0;
        _end = 0;
        return _stream.Read(_in, 0, _in.Length);
    }

    private LineStatus DiscardRestOfLine()
    {
        _start = _end;
        while (true)
        {
            if (Fill(_in.Length) == 0)
            {
                return LineStatus.Eof;
            }

            int idx = Array.IndexOf(_in, (byte)'\n', _start, _end - _start);
            if (idx >= 0)
            {
                _start = idx + 1;
                return LineStatus.TooLong;
            }

            _start = _end;
        }
    }

    /// <summary>
    /// Blocks for more input. Pending replies are flushed first, which counts as one round trip.
    /// The buffer is compacted, and grown up to <paramref name="limit"/> bytes if it is full.
    /// </summary>
    private int Fill(int limit)
    {
        FlushForWait();

        if (_start == _end)
        {
            _start = 0;
            _end = 0;
        }
        else if (_end == _in.Length && _start > 0)
        {
            int keep = _end - _start;
            Buffer.BlockCopy(_in, _start, _in, 0, keep);
            _start = 0;
            _end = keep;
        }

        if (_end == _in.Length)
        {
            int size = Math.Max(_in.Length + 1, Math.Min(_in.Length * 2, limit));
            Array.Resize(ref _in, size);
        }

        int n = _stream.Read(_in, _end, _in.Length - _end);
        if (n <= 0)
        {
            return 0;
        }

        _end += n;
        return n;
    }

    private byte[] Slice(int start, int length)
    {
        if (length <= 0)
        {
            return Array.Empty<byte>();
        }

        byte[] result = new byte[length];
        Buffer.BlockCopy(_in, start, result, 0, length);
        return result;
    }
}

/// <summary>A Trickle write ended early: the server is stopping, the session was aborted or the client went away.</summary>
internal sealed class TrickleStoppedException : Exception
{
    public TrickleStoppedException(Exception? inner)
        : base("Trickle stopped", inner)
    {
    }
}
