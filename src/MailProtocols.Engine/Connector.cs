using System;
using System.IO;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using MailKit;
using MailKit.Net.Proxy;
using MailKit.Security;

namespace MailProtocols.Engine;

/// <summary>
/// Connection, TLS and authentication policy shared by the SMTP and POP3 sides, on MailKit's
/// common <see cref="MailService"/>. Every failure leaves as a <see cref="MailOperationException"/>
/// with a stable ErrorId; cancellation leaves as <see cref="OperationCanceledException"/>.
/// </summary>
internal sealed class Connector
{
    private readonly MailService _client;
    private readonly ConnectionSettings _settings;
    private readonly ProtocolTap _tap;
    private readonly int _implicitTlsPort;
    private string? _certificateProblem;

    public Connector(MailService client, ConnectionSettings settings, ProtocolTap tap, int implicitTlsPort)
    {
        _client = client;
        _settings = settings;
        _tap = tap;
        _implicitTlsPort = implicitTlsPort;
        client.Timeout = (int)Math.Min(int.MaxValue, Math.Max(1, settings.Timeout.TotalMilliseconds));
        client.CheckCertificateRevocation = settings.CheckCertificateRevocation;
        client.ServerCertificateValidationCallback = ValidateCertificate;
    }

    public SecureSocketOptions SocketOptions => _settings.TlsMode switch
    {
        TlsMode.None => SecureSocketOptions.None,
        TlsMode.StartTls => SecureSocketOptions.StartTls,
        TlsMode.Implicit => SecureSocketOptions.SslOnConnect,
        _ => _settings.Port == _implicitTlsPort ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTlsWhenAvailable,
    };

    public void Connect(CancellationToken token)
    {
        _certificateProblem = null;
        try
        {
            _client.Connect(_settings.Host, _settings.Port, SocketOptions, token);
        }
        catch (Exception ex) when (!token.IsCancellationRequested && !(ex is OperationCanceledException))
        {
            throw AsSessionFailure(MapConnectError(ex));
        }
    }

    /// <summary>Authenticates when credentials were given, refusing to do so in plain text
    /// unless the user allowed it.</summary>
    public void Authenticate(CancellationToken token)
    {
        try
        {
            AuthenticateCore(token);
        }
        catch (MailOperationException ex)
        {
            throw AsSessionFailure(ex);
        }
    }

    private void AuthenticateCore(CancellationToken token)
    {
        var credential = _settings.Credential;
        if (credential == null)
        {
            return;
        }

        if (!_client.IsSecure && !_settings.AllowUnencryptedAuthentication)
        {
            throw new MailOperationException("UnencryptedAuthenticationRefused", MailErrorKind.SecurityError, _settings.Endpoint,
                $"The connection to {_settings.Endpoint} is not encrypted, so the credentials were not sent. " +
                "Use a server or port that offers TLS (-UseSsl or -TlsMode StartTls / Implicit), or add " +
                "-AllowUnencryptedAuthentication to send them in plain text anyway.");
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
            throw new MailOperationException("AuthenticationFailed", MailErrorKind.AuthenticationError, credential.UserName,
                $"The server {_settings.Endpoint} refused the credentials of '{credential.UserName}': {ex.Message}", ex);
        }
        catch (NotSupportedException ex)
        {
            throw new MailOperationException("AuthenticationNotSupported", MailErrorKind.AuthenticationError, _settings.Endpoint,
                $"The server {_settings.Endpoint} offers no authentication mechanism this module can use " +
                $"(offered: {string.Join(", ", _client.AuthenticationMechanisms)}).", ex);
        }
        catch (CommandException ex) when (!token.IsCancellationRequested)
        {
            throw new MailOperationException("AuthenticationFailed", MailErrorKind.AuthenticationError, credential.UserName,
                $"The server {_settings.Endpoint} refused to authenticate '{credential.UserName}': {ex.Message}", ex);
        }
    }

    private static MailOperationException AsSessionFailure(MailOperationException ex) =>
        new(ex.ErrorId, ex.Kind, ex.Target, ex.Message, ex.InnerException) { IsSessionFailure = true };

    /// <summary>Maps a failure during a protocol exchange after the connection was made.</summary>
    public MailOperationException MapLostConnection(Exception ex, string what)
    {
        if (IsTimeout(ex))
        {
            return new MailOperationException("Timeout", MailErrorKind.OperationTimeout, _settings.Endpoint,
                $"The server {_settings.Endpoint} did not answer within {_settings.Timeout.TotalSeconds:0.###} s {what}.", ex);
        }

        return new MailOperationException("ConnectionLost", MailErrorKind.ConnectionError, _settings.Endpoint,
            $"The connection to {_settings.Endpoint} was lost {what}: {ex.Message}", ex);
    }

    internal static bool IsTimeout(Exception? ex)
    {
        for (; ex != null; ex = ex.InnerException)
        {
            if (ex is TimeoutException || (ex is SocketException se && se.SocketErrorCode == SocketError.TimedOut))
            {
                return true;
            }
        }

        return false;
    }

    private MailOperationException MapConnectError(Exception ex)
    {
        var endpoint = _settings.Endpoint;
        switch (ex)
        {
            case SslHandshakeException when _certificateProblem != null:
                return new MailOperationException("CertificateRejected", MailErrorKind.SecurityError, endpoint,
                    $"The certificate of {endpoint} was rejected: {_certificateProblem}. Trust the certificate's issuing CA " +
                    "on this machine, or add -SkipCertificateCheck if you know this server (never over the internet).", ex);
            case SslHandshakeException:
            case AuthenticationException:
                return new MailOperationException("TlsHandshakeFailed", MailErrorKind.SecurityError, endpoint,
                    $"The TLS handshake with {endpoint} failed: {ex.Message}", ex);
            case NotSupportedException when SocketOptions == SecureSocketOptions.StartTls:
                return new MailOperationException("StartTlsNotOffered", MailErrorKind.SecurityError, endpoint,
                    $"{endpoint} does not offer STARTTLS, and TLS was required. Use the implicit-TLS port " +
                    "(-TlsMode Implicit), or -TlsMode None if plain text is really what you want.", ex);
            case CommandException when _tap.LastCommand is "STARTTLS" or "STLS":
                return new MailOperationException("StartTlsFailed", MailErrorKind.SecurityError, endpoint,
                    $"{endpoint} offered STARTTLS but refused it: {ex.Message}. The message was not sent in plain text.", ex);
            case CommandException:
            case ProtocolException when _tap.LastCommand != null:
                return new MailOperationException("ServerRefusedConnection", MailErrorKind.ResourceUnavailable, endpoint,
                    $"{endpoint} refused the session: {ex.Message}", ex);
            case SocketException se when se.SocketErrorCode == SocketError.HostNotFound || se.SocketErrorCode == SocketError.TryAgain || se.SocketErrorCode == SocketError.NoData:
                return new MailOperationException("HostNotFound", MailErrorKind.ConnectionError, _settings.Host,
                    $"The host name '{_settings.Host}' could not be resolved: {se.Message}", ex);
            case ProxyProtocolException:
            case SocketException:
            case IOException:
            case ProtocolException:
            case TimeoutException:
                if (IsTimeout(ex))
                {
                    return new MailOperationException("ConnectTimeout", MailErrorKind.OperationTimeout, endpoint,
                        $"{endpoint} did not answer within {_settings.Timeout.TotalSeconds:0.###} s while connecting.", ex);
                }

                return new MailOperationException("ConnectFailed", MailErrorKind.ConnectionError, endpoint,
                    $"Cannot connect to {endpoint}: {ex.Message}", ex);
            default:
                return new MailOperationException("ConnectFailed", MailErrorKind.ConnectionError, endpoint,
                    $"Cannot connect to {endpoint}: {ex.Message}", ex);
        }
    }

    private bool ValidateCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_settings.SkipCertificateCheck || errors == SslPolicyErrors.None)
        {
            return true;
        }

        var detail = errors.ToString();
        if (chain != null && (errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            foreach (var status in chain.ChainStatus)
            {
                detail += $"; {status.Status}";
            }
        }

        _certificateProblem = certificate == null
            ? detail
            : $"{detail} (subject {certificate.Subject}, issuer {certificate.Issuer}, expires {certificate.GetExpirationDateString()})";
        return false;
    }
}
