using System;
using System.Threading;
using MailKit;
using MailKit.Security;

namespace MailProtocols.Engine;

/// <summary>
/// Connection, TLS and authentication policy for a MailKit <see cref="MailService"/> (the SMTP
/// side). Every failure leaves as a <see cref="MailOperationException"/> from
/// <see cref="ConnectErrors"/>; cancellation leaves as <see cref="OperationCanceledException"/>.
/// </summary>
internal sealed class Connector
{
    private readonly MailService _client;
    private readonly ConnectionSettings _settings;
    private readonly ProtocolTap _tap;
    private readonly int _implicitTlsPort;
    private readonly CertificateValidator _validator;

    public Connector(MailService client, ConnectionSettings settings, ProtocolTap tap, int implicitTlsPort)
    {
        _client = client;
        _settings = settings;
        _tap = tap;
        _implicitTlsPort = implicitTlsPort;
        _validator = new CertificateValidator(settings.SkipCertificateCheck);
        client.Timeout = (int)Math.Min(int.MaxValue, Math.Max(1, settings.Timeout.TotalMilliseconds));
        client.CheckCertificateRevocation = settings.CheckCertificateRevocation;
        client.ServerCertificateValidationCallback = _validator.Validate;
    }

    public SecureSocketOptions SocketOptions => _settings.TlsMode switch
    {
        TlsMode.None => SecureSocketOptions.None,
        TlsMode.StartTls => SecureSocketOptions.StartTls,
        TlsMode.Implicit => SecureSocketOptions.SslOnConnect,
        _ => _settings.Port == _implicitTlsPort ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTlsWhenAvailable,
    };

    /// <summary>Connects, reads the greeting, negotiates TLS: all of it within the timeout.
    /// (MailKit's own timeout does not cover a server that accepts the connection and never
    /// greets; the client is then closed, which ends the wait.)</summary>
    public void Connect(CancellationToken token)
    {
        _validator.Reset();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_settings.Timeout);
        using var closeOnTimeout = timeout.Token.Register(() =>
        {
            if (!token.IsCancellationRequested)
            {
                _client.Dispose();
            }
        });
        try
        {
            _client.Connect(_settings.Host, _settings.Port, SocketOptions, timeout.Token);
        }
        catch (Exception) when (timeout.IsCancellationRequested && !token.IsCancellationRequested)
        {
            throw ConnectErrors.Unreachable(_settings, new TimeoutException($"No greeting and handshake within {_settings.Timeout.TotalSeconds:0.###} s."));
        }
        catch (Exception ex) when (!token.IsCancellationRequested && !(ex is OperationCanceledException))
        {
            throw MapConnectError(ex);
        }
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
