using System;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;

namespace MockMail;

/// <summary>
/// Connection plumbing shared by the SMTP and POP3 sessions: socket and (TLS) stream handling, the line
/// reader, closing styles (graceful, abortive, hang), cancellable delays and the server-side TLS handshake.
/// Each session runs on its own background thread (<see cref="Run"/>).
/// </summary>
internal abstract class SessionBase
{
    protected static readonly UTF8Encoding Utf8 = new(false, false);

    protected readonly MockServer _server;
    protected readonly Socket _socket;
    protected readonly bool _implicitTls;
    protected readonly int _generation;
    protected readonly CancellationToken _stopToken;
    private readonly ManualResetEventSlim _abortSignal = new(false);
    protected NetworkStream? _net;
    protected SslStream? _ssl;
    protected LineStream _io = null!;
    protected bool _tls;
    protected bool _closed;
    protected volatile bool _aborted;

    protected SessionBase(MockServer server, Socket socket, bool implicitTls, int generation, CancellationToken stopToken)
    {
        _server = server;
        _socket = socket;
        _implicitTls = implicitTls;
        _generation = generation;
        _stopToken = stopToken;
    }

    internal Thread? Thread { get; set; }

    /// <summary>The record says the session is over.</summary>
    protected abstract bool RecordEnded { get; }

    internal abstract void Run();

    /// <summary>Called by Stop/DisconnectAll from another thread: closes the socket so blocked I/O ends.</summary>
    internal void Abort()
    {
        _aborted = true;
        if (!RecordEnded && !_closed)
        {
            MarkClosedByServer();
        }

        _abortSignal.Set();
        ShutdownAndClose();
    }

    protected abstract void MarkClosedByServer();

    protected abstract void MarkEnded();

    protected abstract void OnTlsEstablished(string protocol);

    protected abstract void OnTlsFailed(string error);

    /// <summary>Runs on the session thread just before the record is marked Ended (e.g. to release locks).</summary>
    protected virtual void BeforeEnd()
    {
    }

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

    /// <summary>Socket options, the network stream and the line reader (round trips go to <paramref name="onRoundTrip"/>).</summary>
    protected void OpenStreams(int idleTimeoutSeconds, Action onRoundTrip)
    {
        _socket.NoDelay = true;
        if (idleTimeoutSeconds > 0)
        {
            _socket.ReceiveTimeout = idleTimeoutSeconds * 1000;
            _socket.SendTimeout = idleTimeoutSeconds * 1000;
        }

        _net = new NetworkStream(_socket, ownsSocket: false);
        _io = new LineStream(_net, onRoundTrip);
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

    protected void Cleanup()
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
            MarkEnded();
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

    /// <summary>Waits; returns false if Stop() or an abort of this session interrupted the wait.</summary>
    protected bool Sleep(int milliseconds)
    {
        if (milliseconds > 0)
        {
            WaitHandle.WaitAny(new[] { _stopToken.WaitHandle, _abortSignal.WaitHandle }, milliseconds);
        }

        return !_stopToken.IsCancellationRequested && !_aborted;
    }

    /// <summary>Graceful close (FIN) after flushing queued replies.</summary>
    protected void CloseGraceful(bool byServer)
    {
        try
        {
            _io.Flush();
        }
        catch (Exception)
        {
            // client may be gone
        }

        ShutdownAndClose();

        _closed = true;
        if (byServer)
        {
            MarkClosedByServer();
        }
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
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            });
        }
        catch (Exception ex)
        {
            if (!_aborted)
            {
                OnTlsFailed(ex.GetType().Name + ": " + ex.Message);
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
        OnTlsEstablished(ssl.SslProtocol.ToString());
        return true;
    }
}
