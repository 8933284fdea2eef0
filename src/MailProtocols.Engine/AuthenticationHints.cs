using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;

namespace MailProtocols.Engine;

/// <summary>Where a refusal came from: the SMTP or POP3 server, or the identity platform's
/// token endpoint.</summary>
public enum AuthenticationSource
{
    Smtp,
    Pop3,
    TokenEndpoint,
}

/// <summary>One known refusal of a sign-in: how to recognize it, the stable ErrorId it is
/// reported with, and one sentence naming the fix.</summary>
public sealed class AuthenticationHint
{
    internal AuthenticationHint(AuthenticationSource source, string code, string? textContains, bool? oauth, string errorId, MailErrorKind kind, string hint)
    {
        Source = source;
        Code = code;
        TextContains = textContains;
        OAuth = oauth;
        ErrorId = errorId;
        Kind = kind;
        Hint = hint;
    }

    public AuthenticationSource Source { get; }

    /// <summary>What is matched: "535 5.7.139" (reply and enhanced code), "-ERR" (POP3), or
    /// "AADSTS7000215".</summary>
    public string Code { get; }

    /// <summary>A text the reply must also contain (case-insensitive), or null.</summary>
    public string? TextContains { get; }

    /// <summary>True: only after XOAUTH2; false: only after a password; null: either.</summary>
    public bool? OAuth { get; }

    public string ErrorId { get; }

    public MailErrorKind Kind { get; }

    /// <summary>One sentence naming the fix.</summary>
    public string Hint { get; }
}

/// <summary>
/// The one table of authentication refusals and what fixes them, for the sign-in paths and the
/// diagnostics cmdlets alike. The first row that matches wins, so a row with a text comes before
/// the row for the same code without one.
/// </summary>
public static class AuthenticationHints
{
    private const string ServicePrincipalSteps =
        "register its service principal with New-ServicePrincipal -AppId <client id> -ObjectId <object id of the enterprise application, " +
        "not of the app registration>, and grant it the mailbox with Add-MailboxPermission -Identity <mailbox> -User <service principal> -AccessRights FullAccess";

    private static readonly Regex AadstsCode = new(@"\bAADSTS(\d+)", RegexOptions.CultureInvariant);

    private static readonly AuthenticationHint[] Rows =
    {
        // Exchange Online's reply to Basic authentication on SMTP AUTH once it is retired, as the
        // Exchange team's announcement "Exchange Online to retire Basic auth for Client Submission
        // (SMTP AUTH)" (techcommunity.microsoft.com, 2024) quotes it:
        // "550 5.7.30 Basic authentication is not supported for Client Submission."
        new(AuthenticationSource.Smtp, "550 5.7.30", null, null, "BasicAuthenticationNotSupported", MailErrorKind.AuthenticationError,
            "Exchange Online no longer takes a password for SMTP AUTH: send with OAuth2 instead, through an Entra app registration " +
            "with the SMTP.SendAsApp application permission (app-only sign-in) or a token given to -AccessToken."),

        // 5.7.139 comes with several texts, e.g. "535 5.7.139 Authentication unsuccessful, user is locked by
        // your organization's security defaults policy." and "..., the request did not meet the criteria to
        // be authenticated successfully." (Conditional Access), besides the SmtpClientAuthentication one below.
        new(AuthenticationSource.Smtp, "535 5.7.139", "security defaults", null, "SmtpAuthenticationBlockedByPolicy", MailErrorKind.AuthenticationError,
            "The tenant's security defaults block SMTP AUTH with a password for this user: send with OAuth2 (app-only sign-in or -AccessToken), " +
            "or turn security defaults off in favour of Conditional Access policies that allow it."),
        new(AuthenticationSource.Smtp, "535 5.7.139", "did not meet the criteria", null, "SmtpAuthenticationBlockedByPolicy", MailErrorKind.AuthenticationError,
            "A Conditional Access policy of the tenant refused this sign-in: exclude this user or app from the policy that blocks it, " +
            "or send with OAuth2 app-only sign-in."),

        // "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.
        // Visit https://aka.ms/smtp_auth_disabled for more information." (or "...for the Mailbox."),
        // Exchange Online's reply where SMTP AUTH is off, with a password or a token.
        new(AuthenticationSource.Smtp, "535 5.7.139", "SmtpClientAuthentication is disabled", null, "SmtpAuthenticationDisabled", MailErrorKind.AuthenticationError,
            "SMTP AUTH is turned off for this mailbox or the whole tenant: enable it with " +
            "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false " +
            "(for the tenant, Set-TransportConfig -SmtpClientAuthenticationDisabled $false)."),

        // Two more 5.7.139 texts that public issue threads show, where SMTP AUTH itself is on:
        // "535 5.7.139 Authentication unsuccessful, basic authentication is disabled." (the password
        // retirement) and "..., the user credentials were incorrect." Any other 5.7.139 text is
        // left to the ordinary AuthenticationFailed rather than given a fix that may be wrong.
        new(AuthenticationSource.Smtp, "535 5.7.139", "basic authentication is disabled", null, "BasicAuthenticationNotSupported", MailErrorKind.AuthenticationError,
            "Exchange Online no longer takes a password for SMTP AUTH: send with OAuth2 instead, through an Entra app registration " +
            "with the SMTP.SendAsApp application permission (app-only sign-in) or a token given to -AccessToken."),
        new(AuthenticationSource.Smtp, "535 5.7.139", "user credentials were incorrect", false, "AuthenticationFailed", MailErrorKind.AuthenticationError,
            "Check the user name and password; if they are right, Exchange Online no longer takes a password for this mailbox, " +
            "so send with OAuth2 (app-only sign-in or -AccessToken)."),

        // "535 5.7.3 Authentication unsuccessful [host]": Exchange Online's XOAUTH2 refusal in Microsoft's
        // "Authenticate an IMAP, POP or SMTP connection using OAuth" (MicrosoftDocs/office-developer-exchange-docs,
        // legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth.md). A token
        // that Entra ID issued is refused so when Exchange does not let the app use that mailbox.
        new(AuthenticationSource.Smtp, "535 5.7.3", null, true, "MailboxAccessNotGranted", MailErrorKind.AuthenticationError,
            "Exchange Online did not accept this token for the mailbox: give the app the SMTP.SendAsApp application permission " +
            "with admin consent, " + ServicePrincipalSteps + " (or, if the token is a user's, get a new one: it may have expired)."),
        new(AuthenticationSource.Smtp, "535 5.7.3", null, false, "AuthenticationFailed", MailErrorKind.AuthenticationError,
            "Check the user name and password; if they are right, Exchange Online no longer takes a password for this mailbox, " +
            "so send with OAuth2 (app-only sign-in or -AccessToken)."),

        // The same document's POP3 refusal: "-ERR Authentication failure: unknown user name or bad
        // password." Exchange words every XOAUTH2 refusal so, whatever step is missing; other
        // servers' refusals (Gmail's, an expired token) keep the ordinary AuthenticationFailed.
        new(AuthenticationSource.Pop3, "-ERR", "unknown user name or bad password", true, "MailboxAccessNotGranted", MailErrorKind.AuthenticationError,
            "Exchange Online did not accept this token for the mailbox: give the app the POP.AccessAsApp application permission " +
            "with admin consent, " + ServicePrincipalSteps + ", and check that POP is on for it " +
            "(Set-CASMailbox -Identity <mailbox> -PopEnabled $true) (or, if the token is a user's, get a new one: it may have expired)."),

        // Entra ID's error codes, as the token endpoint (and MSAL's exceptions) give them: see
        // "Microsoft Entra authentication and authorization error codes" (learn.microsoft.com).
        new(AuthenticationSource.TokenEndpoint, "AADSTS7000215", null, null, "ClientSecretInvalid", MailErrorKind.AuthenticationError,
            "The client secret is wrong: pass the secret's Value (not its Secret ID) from the app registration's " +
            "Certificates & secrets page to -ClientSecret, or create a new secret there."),
        new(AuthenticationSource.TokenEndpoint, "AADSTS7000222", null, null, "ClientSecretExpired", MailErrorKind.AuthenticationError,
            "The client secret has expired: create a new one on the app registration's Certificates & secrets page and pass its Value to -ClientSecret."),
        new(AuthenticationSource.TokenEndpoint, "AADSTS700016", null, null, "ApplicationNotFound", MailErrorKind.ObjectNotFound,
            "No application with this client id is known in the tenant: pass the app registration's Application (client) ID to -ClientId " +
            "and the tenant where it is registered or consented to -TenantId."),
        new(AuthenticationSource.TokenEndpoint, "AADSTS90002", null, null, "TenantNotFound", MailErrorKind.ObjectNotFound,
            "The tenant does not exist: pass the Directory (tenant) ID or a verified domain of the tenant to -TenantId, " +
            "with -Environment for a national cloud."),
        new(AuthenticationSource.TokenEndpoint, "AADSTS700027", null, null, "ClientCertificateNotAccepted", MailErrorKind.AuthenticationError,
            "Entra ID did not accept the certificate: upload its public key (.cer) to the app registration's Certificates & secrets page, " +
            "and replace it there and here if it has expired."),
    };

    /// <summary>Every row, in the order they are tried.</summary>
    public static IReadOnlyList<AuthenticationHint> All => Rows;

    /// <summary>The hint for an SMTP reply to AUTH (its code, and its text that starts with the
    /// enhanced status code); null for a refusal the table does not know.</summary>
    public static AuthenticationHint? ForSmtpReply(int code, string text, bool oauth)
    {
        var line = $"{code} {text}";
        return Rows.FirstOrDefault(r => r.Source == AuthenticationSource.Smtp && StartsWithCode(line, r.Code) && Fits(r, line, oauth));
    }

    /// <summary>The hint for a POP3 -ERR to a login; null for a refusal the table does not know.</summary>
    public static AuthenticationHint? ForPop3Reply(string line, bool oauth) =>
        Rows.FirstOrDefault(r => r.Source == AuthenticationSource.Pop3 && line.StartsWith(r.Code, StringComparison.Ordinal) && Fits(r, line, oauth));

    /// <summary>The hint for the first AADSTS code in <paramref name="message"/> (a token
    /// endpoint's error_description or an MSAL exception's message, or the code alone); null when
    /// it names none the table knows.</summary>
    public static AuthenticationHint? ForAadsts(string? message)
    {
        if (message == null)
        {
            return null;
        }

        var match = AadstsCode.Match(message);
        return match.Success
            ? Rows.FirstOrDefault(r => r.Source == AuthenticationSource.TokenEndpoint && r.Code == match.Value)
            : null;
    }

    /// <summary>The reply code and enhanced code must both match: "535 5.7.3" is not "535 5.7.39".</summary>
    private static bool StartsWithCode(string line, string code) =>
        line.StartsWith(code, StringComparison.Ordinal) && (line.Length == code.Length || !char.IsDigit(line[code.Length]));

    private static bool Fits(AuthenticationHint row, string line, bool oauth) =>
        (row.OAuth == null || row.OAuth == oauth) &&
        (row.TextContains == null || line.IndexOf(row.TextContains, StringComparison.OrdinalIgnoreCase) >= 0);
}
