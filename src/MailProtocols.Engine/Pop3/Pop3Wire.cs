using System;
using System.Diagnostics;
using System.IO;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace MailProtocols.Engine.Pop3;

/// <summary>A POP3 status line: "+OK ...", "-ERR ..." or a SASL continuation "+ ...".</summary>
internal readonly struct Pop3Reply
{
    public Pop3Reply(string line) => Line = line;

    public string Line { get; }
    public bool IsOk => Line.StartsWith("+OK", StringComparison.Ordinal);
    public bool IsContinuation => Line.StartsWith("+ ", StringComparison.Ordinal) || Line == "+";

    /// <summary>The text after the status indicator.</summary>
    public string Text
    {
        get
        {
            var space = Line.IndexOf(' ');
            return space < 0 ? "" : Line.Substring(space + 1);
        }
    }

    /// <summary>The RFC 2449 response code in brackets, e.g. "IN-USE" or "SYS/TEMP", or null.</summary>
    public string? ResponseCode
    {
        get
        {
            var text = Text;
            if (!text.StartsWith("[", StringComparison.Ordinal))
            {
                return null;
            }

            var end = text.IndexOf(']');
            return end > 1 ? text.Substring(1, end - 1).ToUpperInvariant() : null;
        }
    }

    public override string ToString() => Line;
}

/// <summary>
/// The transport of a POP3 session: the socket, TLS, reading lines and multi-line data with
/// bounded buffers, and writing commands; all of it logged to the transcript with secrets
/// replaced. Reads and writes honour the timeout; cancelling the token closes the socket, so a
/// read that waits on a silent server ends at once.
/// </summary>
internal sealed class Pop3Wire : IDisposable
{
    /// <summary>Status lines longer than this are a protocol error (RFC 2449 allows 512 octets).</summary>
    public const int MaxStatusLine = 8192;

    private static readonly byte[] Redacted = Encoding.ASCII.GetBytes("********");

    private readonly ConnectionSettings _settings;
    private readonly ProtocolTap _tap;
    private readonly CertificateValidator _validator;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly MemoryStream _pending = new(); // commands not yet written: pipelined ones go in one write
    private readonly Stopwatch _line = new(); // since the line being read began
    private int _start;
    private int _end;
    private Socket? _socket;
    private Stream? _stream;
    private CancellationTokenRegistration _abortOnCancel;

    public Pop3Wire(ConnectionSettings settings, ProtocolTap tap)
    {
        _settings = settings;
        _tap = tap;
        _validator = new CertificateValidator(settings.SkipCertificateCheck, opportunistic: false);
    }

    public bool IsSecure => _stream is SslStream;

    /// <summary>For unit tests: talk over a given stream instead of a socket.</summary>
    internal void UseStream(Stream stream) => _stream = stream;

    public string TlsProtocol => _stream is SslStream ssl ? ssl.SslProtocol.ToString() : "None";

    /// <summary>Opens the TCP connection (and TLS at once when <paramref name="implicitTls"/>).</summary>
    public void Connect(bool implicitTls, CancellationToken token)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        _socket = socket;
        _abortOnCancel = token.Register(() => socket.Dispose());
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(token))
        {
            timeout.CancelAfter(_settings.Timeout);
            try
            {
                Await(socket.ConnectAsync(_settings.Host, _settings.Port), timeout.Token);
            }
            catch (OperationCanceledException ex) when (!token.IsCancellationRequested)
            {
                throw ConnectErrors.Unreachable(_settings, new TimeoutException("The connection attempt timed out.", ex));
            }
            catch (Exception ex) when (!token.IsCancellationRequested && (ex is SocketException || ex is IOException))
            {
                throw ConnectErrors.Unreachable(_settings, ex);
            }
        }

        var timeoutMs = (int)Math.Min(int.MaxValue, _settings.Timeout.TotalMilliseconds);
        socket.ReceiveTimeout = timeoutMs;
        socket.SendTimeout = timeoutMs;
        socket.NoDelay = true;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _tap.LogConnect(new Uri($"{(implicitTls ? "pops" : "pop")}://{_settings.Endpoint}"));
        if (implicitTls)
        {
            StartTls(token);
        }
    }

    /// <summary>Negotiates TLS on the open connection (after STLS, or at once for implicit TLS).</summary>
    public void StartTls(CancellationToken token)
    {
        _validator.Reset();
        var ssl = new SslStream(_stream!, leaveInnerStreamOpen: false, _validator.Validate);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_settings.Timeout);
        try
        {
            // SslProtocols.None: the versions the operating system allows.
            Await(ssl.AuthenticateAsClientAsync(_settings.Host, null, SslProtocols.None, _settings.CheckCertificateRevocation), timeout.Token);
        }
        catch (Exception ex) when (!token.IsCancellationRequested)
        {
            ssl.Dispose();
            if (_validator.Problem != null)
            {
                throw ConnectErrors.CertificateRejected(_settings, _validator.Problem, ex);
            }

            if (ex is OperationCanceledException)
            {
                throw ConnectErrors.Unreachable(_settings, new TimeoutException("The TLS handshake timed out.", ex));
            }

            throw ConnectErrors.TlsHandshakeFailed(_settings, ex);
        }

        _stream = ssl;
        _start = _end = 0;
    }

    /// <summary>Writes one command line. <paramref name="secretFrom"/>: the index in the line
    /// from which it is secret (replaced by asterisks in the transcript), or -1.</summary>
    public void Send(string line, int secretFrom, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        var bytes = Encoding.UTF8.GetBytes(line + "\r\n");
        if (secretFrom < 0)
        {
            _tap.LogClient(bytes, 0, bytes.Length);
        }
        else
        {
            var visible = Encoding.UTF8.GetBytes(line.Substring(0, secretFrom));
            var logged = new byte[visible.Length + Redacted.Length + 2];
            visible.CopyTo(logged, 0);
            Redacted.CopyTo(logged, visible.Length);
            logged[logged.Length - 2] = (byte)'\r';
            logged[logged.Length - 1] = (byte)'\n';
            _tap.LogClient(logged, 0, logged.Length);
        }

        _pending.Write(bytes, 0, bytes.Length);
    }

    /// <summary>Writes the commands sent so far in one piece.</summary>
    public void Flush()
    {
        if (_pending.Length > 0)
        {
            _stream!.Write(_pending.GetBuffer(), 0, (int)_pending.Length);
            _pending.SetLength(0);
        }

        _stream!.Flush();
    }

    /// <summary>Reads a status line (without CRLF), after writing any commands not yet written.</summary>
    public Pop3Reply ReadReply(CancellationToken token)
    {
        Flush();
        return new Pop3Reply(ReadLine(MaxStatusLine, token));
    }

    /// <summary>Reads the lines of a multi-line response (after its +OK), dot-unstuffed, until the
    /// final "." line. Each line is bounded by <paramref name="maxLine"/>.</summary>
    public System.Collections.Generic.List<string> ReadLines(int maxLine, CancellationToken token)
    {
        var lines = new System.Collections.Generic.List<string>();
        while (true)
        {
            var line = ReadLine(maxLine, token);
            if (line == ".")
            {
                return lines;
            }

            // RFC 1939: a line that starts with the termination octet has it removed, whatever follows.
            lines.Add(line.StartsWith(".", StringComparison.Ordinal) ? line.Substring(1) : line);
        }
    }

    /// <summary>Copies a multi-line response (after its +OK) to <paramref name="destination"/>,
    /// undoing dot-stuffing, without holding it in memory. Returns the bytes written.</summary>
    public long CopyData(Stream destination, CancellationToken token)
    {
        long written = 0;
        var atLineStart = true;
        _line.Restart();
        while (true)
        {
            if (_start == _end)
            {
                Fill(token);
            }

            if (atLineStart && _buffer[_start] == (byte)'.')
            {
                // A line that starts with a dot: the end marker ".CRLF", or a stuffed dot to drop.
                if (!EnsureBuffered(3, token))
                {
                    throw new IOException("The server closed the connection in the middle of a message.");
                }

                if (_buffer[_start + 1] == (byte)'\r' && _buffer[_start + 2] == (byte)'\n')
                {
                    _start += 3;
                    LogServerProgress(written);
                    return written;
                }

                _start++;
                atLineStart = false;
                continue;
            }

            // Write everything up to the next line that starts with a dot (or to the end of what
            // is buffered) in one piece: one write per buffer, not one per line.
            var dotLine = IndexOfDotLine();
            int stop;
            if (dotLine >= 0)
            {
                stop = dotLine + 1;
                atLineStart = true;
            }
            else
            {
                stop = _end;
                atLineStart = _buffer[_end - 1] == (byte)'\n';
            }

            destination.Write(_buffer, _start, stop - _start);
            if (atLineStart || Array.IndexOf(_buffer, (byte)'\n', _start, stop - _start) >= 0)
            {
                _line.Restart();
            }

            written += stop - _start;
            _start = stop;
        }
    }

    public void Dispose()
    {
        _abortOnCancel.Dispose();
        _stream?.Dispose();
        _socket?.Dispose();
    }

    /// <summary>The index of a LF in the buffer that a '.' follows, or -1.</summary>
    private int IndexOfDotLine()
    {
        for (var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start); lf >= 0 && lf + 1 < _end; lf = Array.IndexOf(_buffer, (byte)'\n', lf + 1, _end - lf - 1))
        {
            if (_buffer[lf + 1] == (byte)'.')
            {
                return lf;
            }
        }

        return -1;
    }

    /// <summary>Waits for a task, honouring the token; the task's own exception is rethrown as
    /// it is (not wrapped), and one left behind by a cancellation is observed.</summary>
    private static void Await(Task task, CancellationToken token)
    {
        try
        {
            task.Wait(token);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Capture(ex.InnerException!).Throw();
        }
        catch (OperationCanceledException)
        {
            task.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            throw;
        }
    }

    private void LogServerProgress(long bytes)
    {
        // Message content stays out of the transcript: a line saying how much came is enough.
        var note = Encoding.ASCII.GetBytes($"[{bytes} bytes of message data]\r\n.\r\n");
        _tap.LogServer(note, 0, note.Length);
    }

    private string ReadLine(int maxLine, CancellationToken token)
    {
        _line.Restart(); // a line that trickles in slower than the timeout is a timeout
        var searched = 0; // bytes after _start already known to hold no LF
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start + searched, _end - _start - searched);
            if (newline >= 0)
            {
                var length = newline - _start;
                if (length > maxLine)
                {
                    throw new Pop3ProtocolViolation($"The server sent a line of {length} bytes, longer than the {maxLine} allowed.");
                }

                _tap.LogServer(_buffer, _start, newline + 1 - _start);
                var text = Encoding.UTF8.GetString(_buffer, _start, length).TrimEnd('\r');
                _start = newline + 1;
                return text;
            }

            searched = _end - _start;
            if (searched > maxLine)
            {
                throw new Pop3ProtocolViolation($"The server sent a line longer than the {maxLine} bytes allowed.");
            }


            if (!FillMore(token))
            {
                throw new IOException("The server closed the connection.");
            }
        }
    }

    private bool EnsureBuffered(int count, CancellationToken token)
    {
        while (_end - _start < count)
        {
            if (!FillMore(token))
            {
                return false;
            }
        }

        return true;
    }

    private void Fill(CancellationToken token)
    {
        if (!FillMore(token))
        {
            throw new IOException("The server closed the connection in the middle of a message.");
        }
    }

    /// <summary>Reads more bytes, compacting the buffer first; false at end of stream.</summary>
    private bool FillMore(CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            throw new Pop3ProtocolViolation("The server sent a line longer than the read buffer.");
        }

        // Each line must arrive within the timeout, however the server trickles it: the read
        // may wait only for what is left of that time.
        var left = _settings.Timeout - _line.Elapsed;
        if (left <= TimeSpan.Zero)
        {
            throw new TimeoutException($"The server took longer than {_settings.Timeout.TotalSeconds:0.###} s to send one line.");
        }

        if (_socket != null)
        {
            _socket.ReceiveTimeout = (int)Math.Min(int.MaxValue, Math.Ceiling(left.TotalMilliseconds));
        }

        var read = _stream!.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
        {
            return false;
        }

        _end += read;
        return true;
    }
}

/// <summary>The server broke the protocol (garbage, an over-long line).</summary>
internal sealed class Pop3ProtocolViolation : Exception
{
    public Pop3ProtocolViolation(string message) : base(message)
    {
    }
}
