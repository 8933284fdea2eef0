using System;
using System.Text.RegularExpressions;

namespace MailProtocols.Engine.Smtp;

/// <summary>
/// The Send-MailMessage rule of Send-SmtpMessage: which refusals of MAIL FROM or RCPT TO mean
/// "authenticate first", and the error when the current logon could not sign in after one.
/// </summary>
internal static class AuthenticationRequired
{
    private static readonly Regex EnhancedCode = new(@"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)", RegexOptions.CultureInvariant);
    private static readonly Regex Relay = new(@"\brelay", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);
    private static readonly Regex StartTls = new(@"STARTTLS", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

    /// <summary>
    /// True for a refusal that signing in would lift, and only for these:
    /// <list type="bullet">
    /// <item>530 at MAIL or RCPT, with no enhanced code or 5.7.0 (RFC 4954 section 6,
    /// "Authentication required"), 5.7.1 (Exchange Server, "Client was not authenticated") or
    /// 5.7.57 (Exchange Online, "Client not authenticated to send mail"); not when it asks for
    /// STARTTLS (Postfix's "530 5.7.0 Must issue a STARTTLS command first" wants TLS).</item>
    /// <item>A 5xx with 5.7.54 at RCPT (Exchange, "Unable to relay recipient in non-accepted domain").</item>
    /// <item>550, 551 or 554 at RCPT, with no enhanced code or 5.7.1, whose text speaks of relaying
    /// (Postfix "Relay access denied", Sendmail "Relaying denied", Exim "relay not permitted",
    /// older Exchange "Unable to relay"); 5.7.1 alone also means a policy refusal that no sign-in lifts.</item>
    /// </list>
    /// </summary>
    public static bool Is(SmtpReply reply, bool atRecipient)
    {
        if (reply.Code < 500 || reply.Code > 599)
        {
            return false;
        }

        var match = EnhancedCode.Match(reply.Text);
        var enhanced = match.Success ? $"{match.Groups[1].Value}.{match.Groups[2].Value}.{match.Groups[3].Value}" : null;
        if (reply.Code == 530)
        {
            return (enhanced is null or "5.7.0" or "5.7.1" or "5.7.57") && !StartTls.IsMatch(reply.Text);
        }

        if (!atRecipient)
        {
            return false;
        }

        if (enhanced == "5.7.54")
        {
            return true;
        }

        return (reply.Code == 550 || reply.Code == 551 || reply.Code == 554) && (enhanced is null or "5.7.1") && Relay.IsMatch(reply.Text);
    }

    /// <summary>The refusal, and why the current logon did not sign in as Send-MailMessage would
    /// have (<paramref name="signInFailure"/>: the sign-in's own error, kept as the inner exception).</summary>
    public static MailOperationException Error(ConnectionSettings settings, string what, SmtpReply reply, MailOperationException signInFailure) =>
        new("AuthenticationRequired", MailErrorKind.AuthenticationError, settings.Endpoint,
            $"The server {settings.Endpoint} refused {what} without authentication: {reply.Code} {reply.Text.Replace('\n', ' ').TrimEnd('.')}. " +
            $"Nothing was delivered{(what.StartsWith("every", StringComparison.Ordinal) ? " to them" : "")}. Send-MailMessage would have signed in as the current logon: {Why(signInFailure)}. " +
            "Or give -Credential.",
            signInFailure);

    /// <summary>The server offers no GSSAPI: the current logon has nothing to sign in with.</summary>
    public static MailOperationException NotOffered(ConnectionSettings settings, System.Collections.Generic.ICollection<string> offered) =>
        new("AuthenticationNotSupported", MailErrorKind.AuthenticationError, settings.Endpoint,
            $"the server does not offer Kerberos (AUTH GSSAPI) to sign in with (it offers: {(offered.Count == 0 ? "no AUTH at all" : string.Join(", ", offered))})");

    private static string Why(MailOperationException failure) => failure.ErrorId switch
    {
        "NoKerberosLogon" => "no Kerberos ticket was found (log on to the domain; on Linux and macOS run kinit, or set KRB5CCNAME to a credential cache with a ticket)",
        "AuthenticationNotSupported" => failure.Message,
        "KerberosServicePrincipalUnknown" => $"Kerberos has no ticket for the server ({failure.Message})",
        _ => $"that sign-in failed ({failure.ErrorId}: {failure.Message})",
    };
}
