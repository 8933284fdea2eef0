using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Security.Authentication;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace MailProtocols.Engine;

/// <summary>A reply line that trickled in slower than the timeout allows for one line.</summary>
internal sealed class LineTimeoutException : TimeoutException
{
    public LineTimeoutException(string message) : base(message)
    {
    }
}

/// <summary>
/// The transport shared by the SMTP and POP3 sessions: the socket under a
/// <see cref="DeadlineStream"/>, TLS, reading lines with a bounded buffer (each line within the
/// timeout, however the server trickles it), and commands queued so that pipelined ones go out in
/// one write; all of it logged to the transcript with secrets replaced. Cancelling the token
/// closes the socket, so a read that waits on a silent server ends at once.
/// </summary>
internal class MailWire : IDisposable
{
    private static readonly byte[] Redacted = Encoding.ASCII.GetBytes("********");

    protected readonly ConnectionSettings _settings;
    protected readonly ProtocolTap _tap;
    protected readonly byte[] _buffer = new byte[64 * 1024];
    protected readonly Stopwatch _line = new(); // since the line being read began
    protected int _start;
    protected int _end;
    protected Stream? _stream;
    private readonly CertificateValidator _validator;
    private readonly MemoryStream _pending = new(); // commands not yet written: pipelined ones go in one write
    private DeadlineStream? _deadline;

    public MailWire(ConnectionSettings settings, ProtocolTap tap, CertificateValidator validator)
    {
        _settings = settings;
        _tap = tap;
        _validator = validator;
    }

    public bool IsSecure => _stream is SslStream;

    public string TlsProtocol => _stream is SslStream ssl ? ssl.SslProtocol.ToString() : "None";

    /// <summary>Whether the current connection's certificate passed validation.</summary>
    public bool CertificateValidated => IsSecure && _validator.Validated;

    /// <summary>Why the certificate failed a check that let the session go on (opportunistic TLS), or null.</summary>
    public string? CertificateProblem => IsSecure ? _validator.Problem : null;

    /// <summary>True once a read or write ran out of time, or the connection was aborted for a timeout.</summary>
    public bool TimedOut => _deadline?.TimedOut == true;

    /// <summary>Bytes received on this connection so far.</summary>
    public long BytesRead => _deadline?.BytesRead ?? 0;

    /// <summary>True when the server's first bytes were a TLS record where plain text was expected.</summary>
    public bool ReceivedTlsRecord => _deadline?.ReceivedTlsRecord == true;

    /// <summary>How many writes to the connection were begun: bytes queued before a write began
    /// may have reached the server, whether or not the write ended well.</summary>
    public long WritesBegun { get; private set; }

    /// <summary>This end of the connection, or null.</summary>
    public System.Net.EndPoint? LocalEndPoint { get; private set; }

    /// <summary>The addresses the host name resolved to at the last connect (the literal, for an address).</summary>
    public IPAddress[] ResolvedAddresses { get; private set; } = new IPAddress[0];

    /// <summary>The address the last connect reached, or null.</summary>
    public IPAddress? RemoteAddress { get; private set; }

    /// <summary>True when the server's first bytes were digits: plain SMTP where TLS was expected.</summary>
    public bool ReceivedDigits => _deadline?.ReceivedDigits == true;

    /// <summary>True when the server's first bytes were a POP3 status ("+OK", "-ERR") where TLS was expected.</summary>
    public bool ReceivedPop3Status => _deadline?.ReceivedPop3Status == true;

    /// <summary>The TLS layer of the current connection, or null, for reports of what was negotiated.</summary>
    internal SslStream? Tls => _stream as SslStream;

    /// <summary>The check every certificate of this wire goes through, and its verdict on the last one.</summary>
    internal CertificateValidator Validator => _validator;

    /// <summary>For unit tests: talk over a given stream instead of a socket.</summary>
    internal void UseStream(Stream stream, DeadlineStream? deadline = null)
    {
        _stream = stream;
        _deadline = deadline;
    }

    /// <summary>Opens the TCP connection (and TLS at once when <paramref name="implicitTls"/>).
    /// <paramref name="scheme"/> and its TLS variant name the connection in the transcript.</summary>
    public void Connect(string scheme, bool implicitTls, CancellationToken token)
    {
        Close();
        ResolvedAddresses = new IPAddress[0];
        RemoteAddress = null;
        var socket = Dial(token);
        socket.NoDelay = true;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteAddress = (socket.RemoteEndPoint as IPEndPoint)?.Address;
        _deadline = new DeadlineStream(socket, _settings.Timeout, token);
        _stream = _deadline;
        _start = _end = 0;
        _pending.SetLength(0);
        _tap.LogConnect(new Uri($"{scheme}{(implicitTls ? "s" : "")}://{_settings.Endpoint}"));
        if (implicitTls)
        {
            StartTls(token);
        }
    }

    /// <summary>The socket the wire reads and writes through, for unit tests.</summary>
    internal Socket? Socket => _deadline?.Socket;

    /// <summary>Opens the TCP connection with a blocking connect, trying each address of the host
    /// in turn within the one timeout. Never an async socket call: on Linux that leaves the socket
    /// non-blocking for good, and every reply waited for afterwards would wake this thread from
    /// the runtime's epoll thread instead of from the kernel. The timeout or the token ends a
    /// connect under way by closing its socket.</summary>
    private Socket Dial(CancellationToken token)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_settings.Timeout);
        try
        {
            var addresses = IPAddress.TryParse(_settings.Host, out var literal) ? new[] { literal } : Resolve(timeout.Token);
            ResolvedAddresses = addresses;
            Exception? last = null;
            foreach (var address in addresses)
            {
                Socket? socket = null;
                try
                {
                    socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    using (timeout.Token.Register(socket.Dispose))
                    {
                        socket.Connect(new IPEndPoint(address, _settings.Port));
                    }

                    // The timeout may have closed the socket just as the connect ended.
                    timeout.Token.ThrowIfCancellationRequested();
                    return socket;
                }
                catch (Exception ex) when (!timeout.IsCancellationRequested && ex is SocketException)
                {
                    // e.g. refused, or no IPv6 here: the next address may take it.
                    socket?.Dispose();
                    last = ex;
                }
                catch (Exception)
                {
                    socket?.Dispose();
                    throw;
                }
            }

            throw last ?? new SocketException((int)SocketError.HostNotFound);
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            throw new OperationCanceledException(token);
        }
        catch (Exception ex) when (timeout.IsCancellationRequested)
        {
            throw ConnectErrors.Unreachable(_settings, new TimeoutException("The connection attempt timed out.", ex));
        }
        catch (Exception ex)
        {
            // e.g. refused, or a host name that DNS cannot take: no connection, said as such.
            throw ConnectErrors.Unreachable(_settings, ex);
        }
    }

    /// <summary>The host's addresses; the lookup touches no socket of ours.</summary>
    private IPAddress[] Resolve(CancellationToken token)
    {
#if NET
        var lookup = Dns.GetHostAddressesAsync(_settings.Host, token);
#else
        var lookup = Dns.GetHostAddressesAsync(_settings.Host);
#endif
        Await(lookup, token);
        return lookup.Result;
    }

    /// <summary>Negotiates TLS on the open connection (after STARTTLS/STLS, or at once for implicit TLS).</summary>
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

            if (ex is OperationCanceledException || ConnectErrors.IsTimeout(ex))
            {
                throw ConnectErrors.Unreachable(_settings, new TimeoutException("The TLS handshake timed out.", ex));
            }

            throw ConnectErrors.TlsHandshakeFailed(_settings, ex);
        }

        _stream = ssl;
        _start = _end = 0;
    }

    /// <summary>Ends the connection as timed out: a read or write waiting now, and every later one, throws.</summary>
    public void Abort(string reason) => _deadline?.Abort(new TimeoutException(reason));

    private static readonly char[] LineBreaks = { '\r', '\n' };

    /// <summary>Queues one command line. <paramref name="secretFrom"/>: the index in the line
    /// from which it is secret (replaced by asterisks in the transcript), or -1.</summary>
    public void Send(string line, int secretFrom, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        if (line.IndexOfAny(LineBreaks) >= 0)
        {
            // A line break would end this command and start another one the caller never chose.
            throw new ArgumentException("A command line must not hold a line break.", nameof(line));
        }

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

    /// <summary>Queues bytes that are not a command (message data), logging nothing; large
    /// amounts are written at once so that memory stays flat.</summary>
    public void SendRaw(byte[] buffer, int offset, int count)
    {
        if (_pending.Length + count > _buffer.Length)
        {
            Flush();
            if (count > _buffer.Length)
            {
                WritesBegun++;
                _stream!.Write(buffer, offset, count);
                return;
            }
        }

        _pending.Write(buffer, offset, count);
    }

    /// <summary>Writes what was queued in one piece.</summary>
    public void Flush()
    {
        if (_stream == null)
        {
            throw new IOException("The connection is closed.");
        }

        if (_pending.Length > 0)
        {
            var length = (int)_pending.Length;
            _pending.SetLength(0);
            WritesBegun++;
            _stream!.Write(_pending.GetBuffer(), 0, length);
        }

        _stream!.Flush();
    }

    /// <summary>True when the server sent something not yet read: a reply can be read now,
    /// without waiting for the server.</summary>
    public bool ReplyWaiting =>
        _stream != null && ((_end > _start && Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start) >= 0) || (_deadline?.Available ?? 0) > 0);

    /// <summary>True when the server sent something unread or closed the connection; for a
    /// connection with no reply outstanding, both mean it cannot take a new command.</summary>
    public bool ClosedOrSpoke => _stream == null || _end > _start || (_deadline?.Readable ?? false);

    /// <summary>Drops the connection without a word to the server.</summary>
    public void Close()
    {
        _stream?.Dispose();
        _stream = null;
        _deadline = null;
        _start = _end = 0;
        _pending.SetLength(0);
    }

    public void Dispose() => Close();

    /// <summary>The exception for a server that breaks the protocol (an over-long line).</summary>
    protected virtual Exception Violation(string message) => new IOException(message);

    /// <summary>Reads one line (without CRLF), logged; longer than <paramref name="maxLine"/> is a violation.</summary>
    protected string ReadLine(int maxLine, CancellationToken token)
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
                    throw Violation($"The server sent a line of {length} bytes, longer than the {maxLine} allowed.");
                }

                _tap.LogServer(_buffer, _start, newline + 1 - _start);
                var text = Encoding.UTF8.GetString(_buffer, _start, length).TrimEnd('\r');
                _start = newline + 1;
                return text;
            }

            searched = _end - _start;
            if (searched > maxLine)
            {
                throw Violation($"The server sent a line longer than the {maxLine} bytes allowed.");
            }

            if (!FillMore(token))
            {
                throw new IOException("The server closed the connection.");
            }
        }
    }

    protected bool EnsureBuffered(int count, CancellationToken token)
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

    protected void Fill(CancellationToken token)
    {
        if (!FillMore(token))
        {
            throw new IOException("The server closed the connection in the middle of a message.");
        }
    }

    /// <summary>Reads more bytes, compacting the buffer first; false at end of stream.</summary>
    protected bool FillMore(CancellationToken token)
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
            throw Violation("The server sent a line longer than the read buffer.");
        }

        // Each line must arrive within the timeout, however the server trickles it: the read
        // may wait only for what is left of that time.
        var left = _settings.Timeout - _line.Elapsed;
        if (left <= TimeSpan.Zero)
        {
            throw new LineTimeoutException($"The server took longer than {_settings.Timeout.TotalSeconds:0.###} s to send one line.");
        }

        _deadline?.ReadBy(left);
        int read;
        try
        {
            read = _stream!.Read(_buffer, _end, _buffer.Length - _end);
        }
        finally
        {
            _deadline?.NoReadDeadline();
        }

        if (read == 0)
        {
            return false;
        }

        _end += read;
        return true;
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
}
