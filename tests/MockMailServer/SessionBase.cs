using System;
using System.Collections.Generic;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;

namespace MockMail;

/// <summary>
/// What the SMTP and POP3 sessions share: socket and (TLS) stream handling, the command loop and its record
/// keeping, the actions of rules, closing styles (graceful, abortive, hang), cancellable delays, the server-side
/// TLS handshake and (SessionBase.Sasl.cs) the SASL mechanisms. Each session runs on its own background thread
/// (<see cref="Run"/>).
/// </summary>
internal abstract partial class SessionBase
{
    protected static readonly UTF8Encoding Utf8 = new(false, false);

    protected readonly MockServer _server;
    protected readonly Socket _socket;
    protected readonly bool _implicitTls;
    protected readonly int _generation;
    protected readonly CancellationToken _stopToken;
    private readonly SessionRecord _record;
    private readonly ManualResetEventSlim _abortSignal = new(false);
    protected NetworkStream? _net;
    protected SslStream? _ssl;
    protected LineStream _io = null!;
    protected bool _tls;
    protected bool _closed;
    protected volatile bool _aborted;

    protected SessionBase(MockServer server, Socket socket, SessionRecord record, bool implicitTls, int generation, CancellationToken stopToken)
    {
        _server = server;
        _socket = socket;
        _record = record;
        _implicitTls = implicitTls;
        _generation = generation;
        _stopToken = stopToken;
    }

    internal Thread? Thread { get; set; }

    /// <summary>Longest command line read as such; a longer one is recorded truncated and answered with
    /// <see cref="LineTooLongReply"/>.</summary>
    protected abstract int MaxCommandLine { get; }

    protected abstract string LineTooLongReply { get; }

    /// <summary>Socket send/receive timeout in seconds (0 = none), read once when the session starts.</summary>
    protected abstract int IdleTimeoutSeconds { get; }

    /// <summary>
    /// The session, on its own thread: streams, the TLS handshake on the implicit-TLS listener, the greeting,
    /// then one command line at a time until either side closes. An idle timeout or an unexpected error is
    /// recorded; the connection is always cleaned up and the record marked Ended.
    /// </summary>
    internal void Run()
    {
        try
        {
            OpenStreams(IdleTimeoutSeconds);
            if (_implicitTls && !Handshake())
            {
                return;
            }

            Greet();
            _io.EndTrickle();
            while (!_closed && !_aborted)
            {
                var status = _io.ReadLine(MaxCommandLine, out var bytes, out _);
                if (status == LineStatus.Eof)
                {
                    break;
                }

                string text = Utf8.GetString(bytes);
                _record.AddCommand(text);
                if (status == LineStatus.TooLong)
                {
                    Send(LineTooLongReply);
                    continue;
                }

                HandleCommand(text);
                _io.EndTrickle();
            }
        }
        catch (TrickleStoppedException)
        {
            _closed = true; // Stop()/DisconnectAll() or the client went away during a Trickle: end quietly
        }
        catch (Exception ex) when (!_aborted && IsTimeout(ex))
        {
            _record.Error = "Idle timeout";
            _record.ClosedByServer = true;
            OnIdleTimeout();
        }
        catch (Exception ex)
        {
            if (!_aborted && !_closed)
            {
                _record.Error = ex.GetType().Name + ": " + ex.Message;
            }
        }
        finally
        {
            Cleanup();
        }
    }

    /// <summary>Called by Stop/DisconnectAll from another thread: closes the socket so blocked I/O ends.</summary>
    internal void Abort()
    {
        _aborted = true;
        if (!_record.Ended && !_closed)
        {
            MarkClosedByServer();
        }

        _abortSignal.Set();
        ShutdownAndClose();
    }

    /// <summary>Sends the greeting (or what a CONNECT rule says).</summary>
    protected abstract void Greet();

    /// <summary>Handles one command line (already recorded).</summary>
    protected abstract void HandleCommand(string text);

    /// <summary>After an idle timeout was recorded, just before the session ends.</summary>
    protected virtual void OnIdleTimeout()
    {
    }

    /// <summary>Runs on the session thread just before the record is marked Ended (e.g. to release locks).</summary>
    protected virtual void BeforeEnd()
    {
    }

    protected void MarkClosedByServer() => _record.ClosedByServer = true;

    protected static bool IsTimeout(Exception ex)
    {
        for (Exception? e = ex; e != null; e = e.InnerException)
        {
            if (e is SocketException se && se.SocketErrorCode == SocketError.TimedOut)
            {
                return true;
            }
        }

        return false;
    }

    protected static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    /// <summary>The lines of a capability table (EHLO keywords, CAPA lines) whose condition holds, in order.</summary>
    protected static IEnumerable<string> Enabled(params (bool On, string Line)[] table)
    {
        foreach (var (on, line) in table)
        {
            if (on)
            {
                yield return line;
            }
        }
    }

    /// <summary>Socket options, the network stream and the line reader (round trips are counted in the record).</summary>
    private void OpenStreams(int idleTimeoutSeconds)
    {
        _socket.NoDelay = true;
        if (idleTimeoutSeconds > 0)
        {
            _socket.ReceiveTimeout = idleTimeoutSeconds * 1000;
            _socket.SendTimeout = idleTimeoutSeconds * 1000;
        }

        _net = new NetworkStream(_socket, ownsSocket: false);
        _io = new LineStream(_net, _record.CountRoundTrip);
    }

    /// <summary>FIN, then close; a socket that is already gone is fine.</summary>
    protected void ShutdownAndClose()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception)
        {
            // already closed
        }

        try
        {
            _socket.Close();
        }
        catch (Exception)
        {
            // already closed
        }
    }

    private void Cleanup()
    {
        try
        {
            _ssl?.Dispose();
        }
        catch (Exception)
        {
            // ignore
        }

        try
        {
            _net?.Dispose();
        }
        catch (Exception)
        {
            // ignore
        }

        try
        {
            _socket.Close();
        }
        catch (Exception)
        {
            // ignore
        }

        try
        {
            BeforeEnd();
        }
        finally
        {
            _record.Ended = true;
            _server.OnSessionEnded(this);
        }
    }

    /// <summary>Queues a reply; multi-line text (CRLF or LF separated) is written line by line.</summary>
    protected void Send(string reply)
    {
        string[] lines = reply.Split('\n');
        int count = lines.Length;
        while (count > 1 && lines[count - 1].TrimEnd('\r').Length == 0)
        {
            count--;
        }

        for (int i = 0; i < count; i++)
        {
            _io.WriteLine(lines[i].TrimEnd('\r'));
        }
    }

    /// <summary>
    /// Applies the part of a matched rule that comes before the command is handled. Returns false when the rule
    /// consumed the command (closed, hung, raw text sent, or the session was stopped during a delay); else
    /// <paramref name="overrideReply"/> replaces the normal reply and <paramref name="closeAfter"/> asks for a
    /// close after it. <paramref name="transferBytes"/> is -1, or for CloseMidData/CloseMidRetr on a command that
    /// starts a transfer (<paramref name="startsTransfer"/>) the content bytes after which to reset the connection.
    /// </summary>
    protected bool ApplyRule(IMockRule? rule, bool startsTransfer, out string? overrideReply, out bool closeAfter, out int transferBytes)
    {
        overrideReply = null;
        closeAfter = false;
        transferBytes = -1;
        if (rule == null)
        {
            return true;
        }

        switch (rule.Kind)
        {
            case RuleAction.Close:
                CloseGraceful(byServer: true);
                return false;
            case RuleAction.NeverReply:
                Hang();
                return false;
            case RuleAction.Delay:
                if (!Sleep(rule.DelayMs))
                {
                    _closed = true; // interrupted by Stop()/DisconnectAll()
                    MarkClosedByServer();
                    return false;
                }

                return true;
            case RuleAction.CloseMidTransfer:
                if (startsTransfer)
                {
                    transferBytes = Math.Max(0, rule.AfterBytes);
                    return true;
                }

                ResetConnection();
                return false;
            case RuleAction.Trickle:
                overrideReply = NullIfEmpty(rule.Reply);
                _io.BeginTrickle(rule.DelayMs > 0 ? rule.DelayMs : 1000, Sleep);
                return true;
            case RuleAction.SendRaw:
                _io.Write(rule.Reply ?? string.Empty);
                return false;
            case RuleAction.ReplyThenClose:
                overrideReply = NullIfEmpty(rule.Reply);
                closeAfter = true;
                return true;
            default:
                overrideReply = NullIfEmpty(rule.Reply);
                return true;
        }
    }

    /// <summary>Waits; returns false if Stop() or an abort of this session interrupted the wait.</summary>
    private bool Sleep(int milliseconds)
    {
        if (milliseconds > 0)
        {
            WaitHandle.WaitAny(new[] { _stopToken.WaitHandle, _abortSignal.WaitHandle }, milliseconds);
        }

        return !_stopToken.IsCancellationRequested && !_aborted;
    }

    /// <summary>Writes out queued replies; a client that is gone is fine.</summary>
    private void FlushQuietly()
    {
        try
        {
            _io.Flush();
        }
        catch (Exception)
        {
            // client may be gone
        }
    }

    /// <summary>Graceful close (FIN) after flushing queued replies.</summary>
    protected void CloseGraceful(bool byServer)
    {
        FlushQuietly();
        ShutdownAndClose();

        _closed = true;
        if (byServer)
        {
            MarkClosedByServer();
        }
    }

    /// <summary>Writes out queued replies, then resets the connection.</summary>
    protected void ResetConnection()
    {
        FlushQuietly();
        AbortConnection();
    }

    /// <summary>Abortive close: the client sees a connection reset.</summary>
    protected void AbortConnection()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception)
        {
            // ignore
        }

        try
        {
            _socket.Close();
        }
        catch (Exception)
        {
            // ignore
        }

        _closed = true;
        MarkClosedByServer();
    }

    /// <summary>Answer nothing; drop input until the client closes or the server stops.</summary>
    protected void Hang()
    {
        try
        {
            _io.Flush();
            while (!_aborted && _io.ReadDiscard() > 0)
            {
            }
        }
        catch (Exception)
        {
            // closed by client, Stop() or idle timeout
        }

        _closed = true;
    }

    /// <summary>Server side of the TLS handshake with the server certificate; on success the line reader
    /// switches to the TLS stream (buffered plaintext is dropped).</summary>
    protected bool Handshake()
    {
        var ssl = new SslStream(_net!, leaveInnerStreamOpen: true);
        try
        {
            ssl.AuthenticateAsServer(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _server.CertificateContext,
                ClientCertificateRequired = false,
                EnabledSslProtocols = _server.TlsProtocols,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            });
        }
        catch (Exception ex)
        {
            if (!_aborted)
            {
                _record.TlsError = ex.GetType().Name + ": " + ex.Message;
            }

            try
            {
                ssl.Dispose();
            }
            catch (Exception)
            {
                // ignore
            }

            _closed = true;
            return false;
        }

        _ssl = ssl;
        _tls = true;
        _io.ReplaceStream(ssl);
        _record.Tls = true;
        _record.TlsProtocol = ssl.SslProtocol.ToString();
        return true;
    }
}
