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

    public static SaslMechanism Mechanism(ConnectionSettings settings, string service) =>
#if NET
        new GssapiMechanism(service, settings.Host, System.Net.CredentialCache.DefaultNetworkCredentials);
#else
        throw new MailOperationException("CurrentLogonNotSupported", MailErrorKind.NotImplemented, settings.Endpoint,
            "-UseDefaultCredentials needs PowerShell 7: Windows PowerShell 5.1's .NET Framework has no NegotiateAuthentication to sign in with the current logon.")
        { IsSessionFailure = true };
#endif
}
