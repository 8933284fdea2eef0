using System;
using System.Net.Sockets;

namespace MailProtocols.Engine;

/// <summary>
/// The errors of the connection phase, shared by SMTP and POP3 so that the same failure has the
/// same ErrorId, category and advice on both sides. All of them are session failures: nothing
/// else in the same command can succeed.
/// </summary>
internal static class ConnectErrors
{
    public static MailOperationException CertificateRejected(ConnectionSettings s, string problem, Exception? ex) =>
        Fail("CertificateRejected", MailErrorKind.SecurityError, s.Endpoint,
            $"The certificate of {s.Endpoint} was rejected: {problem}. Trust the certificate's issuing CA " +
            "on this machine, or add -SkipCertificateCheck if you know this server (never over the internet).", ex);

    public static MailOperationException TlsHandshakeFailed(ConnectionSettings s, Exception ex) =>
        Fail("TlsHandshakeFailed", MailErrorKind.SecurityError, s.Endpoint, $"The TLS handshake with {s.Endpoint} failed: {ex.Message}", ex);

    public static MailOperationException StartTlsNotOffered(ConnectionSettings s, Exception? ex = null) =>
        Fail("StartTlsNotOffered", MailErrorKind.SecurityError, s.Endpoint,
            $"{s.Endpoint} does not offer STARTTLS, and TLS was required. Use the implicit-TLS port " +
            "(-TlsMode Implicit), or -TlsMode None if plain text is really what you want.", ex);

    public static MailOperationException StartTlsFailed(ConnectionSettings s, string reply, Exception? ex = null) =>
        Fail("StartTlsFailed", MailErrorKind.SecurityError, s.Endpoint,
            $"{s.Endpoint} offered STARTTLS but refused it: {reply}. Nothing was sent in plain text.", ex);

    public static MailOperationException ServerRefused(ConnectionSettings s, string reply, Exception? ex = null) =>
        Fail("ServerRefusedConnection", MailErrorKind.ResourceUnavailable, s.Endpoint, $"{s.Endpoint} refused the session: {reply}", ex);

    public static MailOperationException UnencryptedAuthenticationRefused(ConnectionSettings s) =>
        Fail("UnencryptedAuthenticationRefused", MailErrorKind.SecurityError, s.Endpoint,
            $"The connection to {s.Endpoint} is not encrypted, so the credentials were not sent. " +
            "Use a server or port that offers TLS (-UseSsl or -TlsMode StartTls / Implicit), or add " +
            "-AllowUnencryptedAuthentication to send them in plain text anyway.", null);

    public static MailOperationException AuthenticationFailed(ConnectionSettings s, string user, string reply, Exception? ex = null) =>
        AuthenticationFailed(s, user, reply, null, ex);

    /// <summary>A refused login; a refusal the hint table knows gets its ErrorId, kind and fix.</summary>
    public static MailOperationException AuthenticationFailed(ConnectionSettings s, string user, string reply, AuthenticationHint? hint, Exception? ex = null) =>
        hint == null
            ? Fail("AuthenticationFailed", MailErrorKind.AuthenticationError, user, $"The server {s.Endpoint} refused the credentials of '{user}': {reply}", ex)
            : Fail(hint.ErrorId, hint.Kind, user, $"The server {s.Endpoint} refused the credentials of '{user}': {reply.TrimEnd().TrimEnd('.')}. {hint.Hint}", ex);

    public static MailOperationException AuthenticationNotSupported(ConnectionSettings s, string offered, Exception? ex = null) =>
        Fail("AuthenticationNotSupported", MailErrorKind.AuthenticationError, s.Endpoint,
            $"The server {s.Endpoint} offers no authentication mechanism this module can use (offered: {offered}).", ex);

    /// <summary>Maps a failure to reach the server at all (DNS, TCP, a timeout, a closed connection).</summary>
    public static MailOperationException Unreachable(ConnectionSettings s, Exception ex)
    {
        if (ex is SocketException se && (se.SocketErrorCode == SocketError.HostNotFound || se.SocketErrorCode == SocketError.TryAgain || se.SocketErrorCode == SocketError.NoData))
        {
            return Fail("HostNotFound", MailErrorKind.ConnectionError, s.Host, $"The host name '{s.Host}' could not be resolved: {se.Message}", ex);
        }

        if (IsTimeout(ex))
        {
            return Fail("ConnectTimeout", MailErrorKind.OperationTimeout, s.Endpoint,
                $"{s.Endpoint} did not answer within {s.Timeout.TotalSeconds:0.###} s while connecting.", ex);
        }

        return Fail("ConnectFailed", MailErrorKind.ConnectionError, s.Endpoint, $"Cannot connect to {s.Endpoint}: {ex.Message}", ex);
    }

    /// <summary>Maps a failure during an exchange after the session was set up.</summary>
    public static MailOperationException Lost(ConnectionSettings s, Exception ex, string what)
    {
        if (IsTimeout(ex))
        {
            return new MailOperationException("Timeout", MailErrorKind.OperationTimeout, s.Endpoint,
                $"The server {s.Endpoint} did not answer within {s.Timeout.TotalSeconds:0.###} s {what}.", ex);
        }

        return new MailOperationException("ConnectionLost", MailErrorKind.ConnectionError, s.Endpoint,
            $"The connection to {s.Endpoint} was lost {what}: {ex.Message}", ex);
    }

    public static bool IsTimeout(Exception? ex)
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

    /// <summary>The same error, advising implicit TLS: for a server that said nothing, or spoke
    /// TLS, where a plain-text greeting was expected.</summary>
    public static MailOperationException WithImplicitTlsAdvice(MailOperationException ex) =>
        new(ex.ErrorId, ex.Kind, ex.Target,
            ex.Message + " If that port expects TLS from the first byte (as port 465 does), use -TlsMode Implicit.",
            ex.InnerException) { IsSessionFailure = ex.IsSessionFailure, ServiceErrorCode = ex.ServiceErrorCode };

    public static MailOperationException AsSessionFailure(MailOperationException ex) =>
        ex.IsSessionFailure ? ex : new(ex.ErrorId, ex.Kind, ex.Target, ex.Message, ex.InnerException) { IsSessionFailure = true, ServiceErrorCode = ex.ServiceErrorCode };

    private static MailOperationException Fail(string id, MailErrorKind kind, object target, string message, Exception? ex) =>
        new(id, kind, target, message, ex) { IsSessionFailure = true };
}
