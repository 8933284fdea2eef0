using System;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using MailKit;
using MailKit.Security;

namespace MailProtocols.Engine;

/// <summary>
/// Connection, TLS and authentication policy for a MailKit <see cref="MailService"/> (the SMTP
/// side). Every failure leaves as a <see cref="MailOperationException"/> from
/// <see cref="ConnectErrors"/>; cancellation leaves as <see cref="OperationCanceledException"/>.
/// The connection runs over a <see cref="DeadlineStream"/> of its own, so no wait on the server
/// outlasts the timeout.
/// </summary>
internal sealed class Connector
{
    private readonly MailService _client;
    private readonly ConnectionSettings _settings;
    private readonly ProtocolTap _tap;
    private readonly int _implicitTlsPort;
    private readonly CertificateValidator _validator;
    private DeadlineStream? _stream;

    public Connector(MailService client, ConnectionSettings settings, ProtocolTap tap, int implicitTlsPort)
    {
        _client = client;
        _settings = settings;
        _tap = tap;
        _implicitTlsPort = implicitTlsPort;
        // TLS the user did not ask for, protecting no credentials, is opportunistic (RFC 7435).
        _validator = new CertificateValidator(settings.SkipCertificateCheck, opportunistic: settings.TlsMode == TlsMode.Auto && settings.Credential == null);
        client.Timeout = (int)Math.Min(int.MaxValue, Math.Max(1, settings.Timeout.TotalMilliseconds));
        client.CheckCertificateRevocation = settings.CheckCertificateRevocation;
        client.ServerCertificateValidationCallback = _validator.Validate;
    }

    /// <summary>Whether the current connection's certificate passed validation.</summary>
    public bool CertificateValidated => _validator.Validated;

    /// <summary>What was wrong with the certificate of an opportunistic TLS session that went on
    /// without validation; null when it validated (or was not checked).</summary>
    public string? CertificateProblem => _validator.Problem;

    public SecureSocketOptions SocketOptions => _settings.TlsMode switch
    {
        TlsMode.None => SecureSocketOptions.None,
        TlsMode.StartTls => SecureSocketOptions.StartTls,
        TlsMode.Implicit => SecureSocketOptions.SslOnConnect,
        _ => _settings.Port == _implicitTlsPort ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTlsWhenAvailable,
    };

    /// <summary>Connects, reads the greeting, negotiates TLS: all of it within the timeout.
    /// Any failure of this phase that a timeout caused (a silent read, the phase's own deadline,
    /// the caller's <see cref="Abort"/>) is ConnectTimeout, whichever timer fired first.</summary>
    public void Connect(CancellationToken token)
    {
        _validator.Reset();
        var phase = Stopwatch.StartNew();
        var socket = OpenSocket(token);
        var stream = new DeadlineStream(socket, _settings.Timeout, token);
        _stream = stream;
        var left = _settings.Timeout - phase.Elapsed;
        using var phaseLimit = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        using (phaseLimit.Token.Register(() => stream.Abort(new TimeoutException($"No greeting and handshake within {_settings.Timeout.TotalSeconds:0.###} s."))))
        {
            try
            {
                // MailKit 4.18.2's SmtpStream, before each read and write, polls the socket in a
                // loop that only the token ends, ignoring ReadTimeout, when the stream below it is
                // MailKit's own NetworkStream, which Connect(host, port) makes. Given another
                // stream, it calls that stream's Read and Write directly, and builds TLS (implicit,
                // or after STARTTLS) on top of it: every read and write, TLS records included, is
                // then bounded by the DeadlineStream.
                _client.Connect(stream, _settings.Host, _settings.Port, SocketOptions, token);
            }
            catch (Exception ex) when (!token.IsCancellationRequested && stream.TimedOut)
            {
                throw TimedOut(stream, ex);
            }
            catch (Exception ex) when (!token.IsCancellationRequested && !(ex is OperationCanceledException))
            {
                var error = MapConnectError(ex);
                throw stream.ReceivedTlsRecord && SocketOptions != SecureSocketOptions.SslOnConnect ? ConnectErrors.WithImplicitTlsAdvice(error) : error;
            }
        }

        if (stream.TimedOut)
        {
            // The deadline fired just as the connection was made: the stream is closed.
            _client.Disconnect(false, CancellationToken.None);
            throw TimedOut(stream, new TimeoutException("The connection phase ran out of time."));
        }
    }

    /// <summary>Ends the current connection as timed out: a read or write waiting on it, and
    /// every later one, throws a timeout.</summary>
    public void Abort(string reason) => _stream?.Abort(new TimeoutException(reason));

    /// <summary>The TCP connection (name resolution included), within the timeout; the token
    /// stops it at once.</summary>
    private Socket OpenSocket(CancellationToken token)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            var connect = socket.ConnectAsync(_settings.Host, _settings.Port);
            try
            {
                if (!connect.Wait((int)Math.Min(int.MaxValue, Math.Ceiling(_settings.Timeout.TotalMilliseconds)), token))
                {
                    throw ConnectErrors.Unreachable(_settings, new TimeoutException($"No connection within {_settings.Timeout.TotalSeconds:0.###} s."));
                }
            }
            catch (Exception)
            {
                // The attempt may still fail once the socket is closed; nobody waits for it any more.
                connect.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                throw;
            }

            return socket;
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count == 1)
        {
            socket.Dispose();
            throw ConnectErrors.Unreachable(_settings, ex.InnerException!);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException || ex is MailOperationException))
        {
            // e.g. a host name that DNS cannot take (too long): no connection, said as such.
            socket.Dispose();
            throw ConnectErrors.Unreachable(_settings, ex);
        }
        catch (Exception)
        {
            socket.Dispose();
            throw;
        }
    }

    private MailOperationException TimedOut(DeadlineStream stream, Exception ex)
    {
        var error = ConnectErrors.Unreachable(_settings, new TimeoutException($"No greeting and handshake within {_settings.Timeout.TotalSeconds:0.###} s.", ex));

        // A client that waits for a greeting on a port that waits for a TLS handshake: both stay silent.
        var tlsPortLikely = SocketOptions != SecureSocketOptions.SslOnConnect && (stream.BytesRead == 0 || stream.ReceivedTlsRecord);
        return tlsPortLikely ? ConnectErrors.WithImplicitTlsAdvice(error) : error;
    }

    /// <summary>Authenticates when credentials were given, refusing to do so in plain text
    /// unless the user allowed it.</summary>
    public void Authenticate(CancellationToken token)
    {
        var credential = _settings.Credential;
        if (credential == null)
        {
            return;
        }

        if (!_client.IsSecure && !_settings.AllowUnencryptedAuthentication)
        {
            throw ConnectErrors.UnencryptedAuthenticationRefused(_settings);
        }

        try
        {
            if (_settings.UseOAuth2)
            {
                _client.Authenticate(new SaslMechanismOAuth2(credential.UserName, credential.Password), token);
            }
            else
            {
                _client.Authenticate(credential, token);
            }
        }
        catch (AuthenticationException ex)
        {
            throw ConnectErrors.AuthenticationFailed(_settings, credential.UserName, ex.Message, ex);
        }
        catch (NotSupportedException ex)
        {
            throw ConnectErrors.AuthenticationNotSupported(_settings, string.Join(", ", _client.AuthenticationMechanisms), ex);
        }
        catch (CommandException ex) when (!token.IsCancellationRequested)
        {
            throw ConnectErrors.AuthenticationFailed(_settings, credential.UserName, ex.Message, ex);
        }
    }

    private MailOperationException MapConnectError(Exception ex) => ex switch
    {
        SslHandshakeException when _validator.Problem != null => ConnectErrors.CertificateRejected(_settings, _validator.Problem, ex),
        SslHandshakeException or System.Security.Authentication.AuthenticationException => ConnectErrors.TlsHandshakeFailed(_settings, ex),
        NotSupportedException when SocketOptions == SecureSocketOptions.StartTls => ConnectErrors.StartTlsNotOffered(_settings, ex),
        CommandException when _tap.LastCommand is "STARTTLS" => ConnectErrors.StartTlsFailed(_settings, ex.Message, ex),
        CommandException => ConnectErrors.ServerRefused(_settings, ex.Message, ex),
        ProtocolException when _tap.LastCommand != null => ConnectErrors.ServerRefused(_settings, ex.Message, ex),
        _ => ConnectErrors.Unreachable(_settings, ex),
    };
}
