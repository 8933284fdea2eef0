using System;
using System.Linq;

namespace MailProtocols.Engine;

/// <summary>
/// The plain-words causes and fixes the connection probes give, one sentence each, for what the
/// sign-in table (<see cref="AuthenticationHints"/>) does not cover: the port and TLS mismatches,
/// what the server does not offer, the certificate, and replies to MAIL and RCPT.
/// </summary>
public static class ProbeHints
{
    /// <summary>Days before expiry from which a certificate gets a hint.</summary>
    public const int ExpiryWarningDays = 14;

    public const string ImplicitTlsOnStartTlsPort =
        "The server answered in plain text where a TLS handshake was expected: this port takes STARTTLS (as 25 and 587 do), not TLS from the first byte. Use -TlsMode StartTls (or Auto).";

    public const string StartTlsOnImplicitTlsPort =
        "The server sent no SMTP greeting (or began a TLS handshake): this port likely expects TLS from the first byte, as 465 does. Use -TlsMode Implicit.";

    /// <summary>For a plain-text probe that got no greeting on a port that is not 465: a silent
    /// TLS port and a server that delays its greeting (Postfix postscreen, Exim greet-pause,
    /// tarpitting on port 25) look the same.</summary>
    public static string NoGreeting(TimeSpan timeout) =>
        $"No greeting came within {timeout.TotalSeconds:0.###} s: either the port expects TLS from the first byte (as 465 does: try -TlsMode Implicit), " +
        "or the server delays its greeting, as anti-spam checks on port 25 do (raise -TimeoutSec).";

    /// <summary>For a TLS handshake that the server began (it took the connection, or STARTTLS) but did not finish in time.</summary>
    public static string TlsHandshakeStalled(TimeSpan timeout) =>
        $"The server accepted the connection for TLS but did not complete the handshake within {timeout.TotalSeconds:0.###} s: " +
        "it may be overloaded, or a firewall or proxy between may hold TLS traffic; try again, or raise -TimeoutSec.";

    public const string TlsHandshakeRefused =
        "The TLS handshake failed: the server may offer only TLS 1.0/1.1, or only ciphers this machine refuses (Exchange Online refuses them too). " +
        "Enable TLS 1.2 or 1.3 on the server.";

    public const string ConnectionLimit =
        "The server has too many connections open at once (Exchange Online allows 3 per mailbox): close other clients or scripts, or try again shortly.";

    public const string TokenRefused =
        "No token came from the sign-in authority, so the mail server was not connected to: the error names the part of the app registration " +
        "(tenant, client ID, secret or certificate) to fix.";

    public const string IntermediateNotTimeValid =
        "A certificate of the chain other than the server's own is expired or not yet valid: install the current intermediate certificate on the server.";

    public const string NoStartTlsRequired =
        "The server does not offer STARTTLS on this port. Use its implicit-TLS port (465, -TlsMode Implicit), or have STARTTLS enabled on the server.";

    public const string NoStartTlsOffered =
        "The server does not offer STARTTLS: mail and credentials would go in plain text. Use its implicit-TLS port (465, -TlsMode Implicit) if it has one.";

    public const string AuthOnlyAfterStartTls =
        "The server offers AUTH only after STARTTLS: use -TlsMode Auto or StartTls, not None.";

    public const string NoAuthOffered =
        "The server offers no AUTH at all here: on this port it is a relay that takes mail without signing in (send without -Credential), or sign-in is on its submission port (587 with STARTTLS, or 465).";

    public const string MustStartTlsFirst =
        "The server wants STARTTLS before this command: use -TlsMode Auto or StartTls, not None.";

    public const string Greylisting =
        "A recipient got a temporary refusal (4xx), as greylisting gives a first attempt from an unknown sender: a real sender retries and is accepted minutes later, so the address itself may be fine.";

    public const string UnencryptedAuthentication =
        "The connection is not encrypted, so the credentials were not sent: use a port or -TlsMode with TLS, or -AllowUnencryptedAuthentication to test a plain-text sign-in anyway.";

    public const string UntrustedCertificateNoCredentials =
        "The certificate failed the check, so the credentials were not sent: fix the certificate, or add -SkipCertificateCheck if you know this server.";

    public const string UntrustedRoot =
        "The certificate's issuer is not trusted on this machine: trust the issuing CA here, or replace the certificate with one from a public CA.";

    /// <summary>For a certificate that expired, expires within <see cref="ExpiryWarningDays"/>, or is not valid yet.</summary>
    public static string? CertificateExpiry(CertificateReport certificate) =>
        certificate.NotAfter < DateTime.Now
            ? $"The certificate expired on {certificate.NotAfter:yyyy-MM-dd}: renew it."
            : certificate.NotBefore > DateTime.Now
                ? $"The certificate is not valid before {certificate.NotBefore:yyyy-MM-dd HH:mm}: check this machine's clock, or the server got a certificate too early."
                : certificate.DaysToExpiry <= ExpiryWarningDays
                    ? $"The certificate expires in {certificate.DaysToExpiry} {(certificate.DaysToExpiry == 1 ? "day" : "days")}, on {certificate.NotAfter:yyyy-MM-dd}: renew it."
                    : null;

    /// <summary>For a certificate issued to names other than the host connected to.</summary>
    public static string CertificateNameMismatch(string host, CertificateReport certificate) =>
        $"The certificate is for {(certificate.SubjectAlternativeNames.Count > 0 ? string.Join(", ", certificate.SubjectAlternativeNames) : certificate.Subject)}, not for '{host}': " +
        "connect by one of those names, or have the certificate reissued to include this one.";

    /// <summary>For TLS 1.0 or 1.1, which Exchange Online and current servers refuse.</summary>
    public static string? OldProtocol(string protocol)
    {
        var name = protocol switch
        {
            "Tls" => "TLS 1.0",
            "Tls11" => "TLS 1.1",
            "Ssl3" => "SSL 3.0",
            "Ssl2" => "SSL 2.0",
            _ => null,
        };
        return name == null
            ? null
            : $"Only {name} was negotiated: TLS 1.0 and 1.1 are retired (Exchange Online refuses them); enable TLS 1.2 or 1.3 on the server and this machine.";
    }

    /// <summary>Every certificate and protocol hint that applies to a TLS session.</summary>
    public static string[] ForTls(string host, TlsReport tls)
    {
        var certificate = tls.Certificate;
        var hints = new[]
        {
            OldProtocol(tls.Protocol),
            certificate == null ? null : CertificateExpiry(certificate),
            certificate != null && certificate.Problems.Contains("NameMismatch") ? CertificateNameMismatch(host, certificate) : null,
            certificate != null && certificate.Problems.Any(p => p is "UntrustedRoot" or "PartialChain") ? UntrustedRoot : null,
            certificate != null && certificate.Problems.Contains(CertificateReport.ChainNotTimeValid) ? IntermediateNotTimeValid : null,
        };
        return hints.Where(h => h != null).Select(h => h!).ToArray();
    }

    /// <summary>For a server that could not be reached: by the connection error's ErrorId.</summary>
    public static string? ForConnectError(string errorId, int port) => errorId switch
    {
        "HostNotFound" => "The host name does not resolve: check its spelling and this machine's DNS.",
        "ConnectFailed" => $"Nothing accepts connections on port {port} there (refused or unreachable): check the port, that the server runs, and any firewall between.",
        "ConnectTimeout" => $"Nothing answered on port {port} in time: a firewall (or a provider blocking outbound port 25) may drop the packets, or the server is down.",
        _ => null,
    };

    public const string NoKerberosTicket =
        "-UseDefaultCredentials signs in with the Kerberos ticket of the current logon, and there is none (or it has expired). " +
        "On Linux or macOS: klist lists the tickets of the credential cache KRB5CCNAME names, and kinit user@REALM gets one. " +
        "On Windows: run the command in the logon session of a signed-in domain account (a scheduled task as that account), not as a local account.";

    public const string KerberosPrincipalUnknown =
        "Kerberos found no service principal for the server by the name it was given (smtp/host or pop/host), or its KDC cannot be reached: " +
        "probe the server by the host name its principal is registered under, not an IP address or an alias (klist then lists the service ticket obtained).";

    public const string NoGssapiOffered =
        "The server does not offer AUTH GSSAPI, which -UseDefaultCredentials signs in with: enable Kerberos sign-in on the server " +
        "(Exchange: Integrated Windows authentication on the receive connector; Dovecot: the gssapi mechanism), or sign in with -Credential.";

    /// <summary>For a failed sign-in as the current logon (-UseDefaultCredentials), by the error's ErrorId.</summary>
    public static string? ForCurrentLogon(string? errorId) => errorId switch
    {
        "NoKerberosLogon" => NoKerberosTicket,
        "KerberosServicePrincipalUnknown" => KerberosPrincipalUnknown,
        "AuthenticationNotSupported" => NoGssapiOffered,
        _ => null,
    };

    /// <summary>For a refused MAIL FROM or AUTH: the 530 of a server that wants STARTTLS first,
    /// else the sign-in table's hint for the reply; null when neither knows it.</summary>
    public static string? ForReply(int code, string text, bool oauth)
    {
        if (code == 530 && text.IndexOf("STARTTLS", StringComparison.OrdinalIgnoreCase) >= 0)
        {
            return MustStartTlsFirst;
        }

        return AuthenticationHints.ForSmtpReply(code, text, oauth)?.Hint;
    }
}
