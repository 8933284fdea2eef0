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

    /// <summary>The service name Exchange registers and .NET Framework's SmtpClient asks for
    /// (its TargetName defaults to SMTPSVC/host): tried when the realm has no smtp/host.</summary>
    public const string ExchangeSmtpService = "SMTPSVC";

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

    /// <summary>The SMTP sign-in, its first token made: smtp/host (RFC 4752, Postfix, Dovecot),
    /// else SMTPSVC/host (Exchange). A principal the realm does not know fails at the KDC, before
    /// anything goes to the server, so the second try costs one KDC request and no SMTP command.
    /// <paramref name="credential"/> as for <see cref="Mechanism"/>.</summary>
    public static SaslMechanism SmtpMechanism(ConnectionSettings settings, System.Net.NetworkCredential? credential = null)
    {
#if NET
        var rfc = (GssapiMechanism)Mechanism(settings, SmtpService, credential);
        try
        {
            rfc.Start();
            return rfc;
        }
        catch (MailOperationException first) when (first.ErrorId == "KerberosServicePrincipalUnknown")
        {
            var exchange = (GssapiMechanism)Mechanism(settings, ExchangeSmtpService, credential);
            try
            {
                exchange.Start();
                return exchange;
            }
            catch (MailOperationException second) when (second.ErrorId == "KerberosServicePrincipalUnknown")
            {
                throw new MailOperationException(first.ErrorId, first.Kind, first.Target,
                    $"Kerberos could not get a ticket for {rfc.ServicePrincipal} nor for {exchange.ServicePrincipal} (the name Exchange registers): " +
                    "the realm has neither principal, or its KDC cannot be reached. Connect by the host name the server's principal is registered under " +
                    "(not an IP address or an alias), or ask the domain administrators to register it.", first)
                { IsSessionFailure = true };
            }
        }
#else
        return Mechanism(settings, SmtpService, credential);
#endif
    }

    /// <summary>Kerberos for the current logon, or, given <paramref name="credential"/>, for that
    /// user@REALM and password (the ticket then comes from the KDC with the password).</summary>
    public static SaslMechanism Mechanism(ConnectionSettings settings, string service, System.Net.NetworkCredential? credential = null) =>
#if NET
        new GssapiMechanism(service, settings.Host, credential ?? System.Net.CredentialCache.DefaultNetworkCredentials, explicitCredential: credential != null);
#else
        throw (credential == null
            ? new MailOperationException("CurrentLogonNotSupported", MailErrorKind.NotImplemented, settings.Endpoint,
                "-UseDefaultCredentials needs PowerShell 7: Windows PowerShell 5.1's .NET Framework has no NegotiateAuthentication to sign in with the current logon.") { IsSessionFailure = true }
            : new MailOperationException("KerberosNotSupported", MailErrorKind.NotImplemented, settings.Endpoint,
                "-AuthenticationMechanism GSSAPI needs PowerShell 7: Windows PowerShell 5.1's .NET Framework has no NegotiateAuthentication to sign in with Kerberos.") { IsSessionFailure = true });
#endif
}
