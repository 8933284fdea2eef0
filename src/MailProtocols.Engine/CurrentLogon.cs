using MailKit.Security;

namespace MailProtocols.Engine;

/// <summary>Signing in as the account the process runs as (<c>-UseDefaultCredentials</c>):
/// Kerberos through SASL GSSAPI, with the ticket of the logon session (on Linux and macOS, the
/// credential cache that KRB5CCNAME names).</summary>
internal static class CurrentLogon
{
    /// <summary>The GSSAPI service names (RFC 4752 section 3.1 takes them from IANA's registry):
    /// the server's principal is smtp/host or pop/host.</summary>
    public const string SmtpService = "smtp";

    public const string Pop3Service = "pop";

    /// <summary>Who signs in, for messages: no name is known before the server has accepted the ticket.</summary>
    public const string Description = "the current logon";

    /// <summary>The SASL mechanism name the server must offer.</summary>
    public const string MechanismName = "GSSAPI";

    /// <summary>The server offers no GSSAPI: the current logon cannot sign in there.</summary>
    public static MailOperationException NotOffered(ConnectionSettings settings, System.Collections.Generic.ICollection<string> offered) =>
        new("AuthenticationNotSupported", MailErrorKind.AuthenticationError, settings.Endpoint,
            $"The server {settings.Endpoint} does not offer Kerberos (SASL GSSAPI), which -UseDefaultCredentials signs in with " +
            $"(offered: {(offered.Count == 0 ? "none" : string.Join(", ", offered))}).")
        { IsSessionFailure = true };

    /// <summary>Kerberos for the current logon, or, given <paramref name="credential"/>, for that
    /// user@REALM and password (the ticket then comes from the KDC with the password).</summary>
    public static SaslMechanism Mechanism(ConnectionSettings settings, string service, System.Net.NetworkCredential? credential = null) =>
#if NET
        new GssapiMechanism(service, settings.Host, credential ?? System.Net.CredentialCache.DefaultNetworkCredentials, explicitCredential: credential != null);
#else
        throw new MailOperationException(credential == null ? "CurrentLogonNotSupported" : "KerberosNotSupported", MailErrorKind.NotImplemented, settings.Endpoint,
            (credential == null ? "-UseDefaultCredentials" : "-AuthenticationMechanism GSSAPI") +
            " needs PowerShell 7: Windows PowerShell 5.1's .NET Framework has no NegotiateAuthentication to sign in with Kerberos.")
        { IsSessionFailure = true };
#endif
}
