using System;
using System.Text.RegularExpressions;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// The plain-words causes and fixes that Test-Pop3Connection gives for what is POP3's own: the
/// 110/995 mismatches, STLS, the RFC 2449/3206 response codes of a refused login, and what
/// CAPA says about logins and expiry. The certificate and TLS-version hints are
/// <see cref="ProbeHints"/>'s, shared with the SMTP probe.
/// </summary>
public static class Pop3ProbeHints
{
    public const string ImplicitTlsOnPlainPort =
        "The server answered in plain text (+OK) where a TLS handshake was expected: this port takes STLS (as 110 does), not TLS from the first byte. Use -TlsMode StartTls (or Auto), or port 995 for implicit TLS.";

    public const string PlainOnImplicitTlsPort =
        "The server sent no POP3 greeting (or began a TLS handshake): this port expects TLS from the first byte, as 995 does. Use -TlsMode Implicit.";

    public const string NoStlsRequired =
        "The server does not offer STLS on this port. Use its implicit-TLS port (995, -TlsMode Implicit), or have STLS enabled on the server.";

    public const string NoStlsOffered =
        "The server does not offer STLS: the password and the mail would go in plain text. Use its implicit-TLS port (995, -TlsMode Implicit) if it has one.";

    public const string StlsRefused =
        "The server lists STLS but refused it: its TLS set-up is broken (a missing certificate or key, say). Have it fixed, or use port 995 with -TlsMode Implicit.";

    public const string HandshakeFailed =
        "The TLS handshake failed: the server may offer only TLS 1.0/1.1 or ciphers this machine refuses (Exchange Online refuses TLS 1.0/1.1 for POP3 too). Enable TLS 1.2 or 1.3 on the server.";

    public const string HandshakeTimedOut =
        "The server took the connection but did not finish the TLS handshake in time: its TLS set-up hangs, or something between drops the handshake. Raise -TimeoutSec to tell a slow server from a broken one.";

    public const string GreetingRefused =
        "The server refused the session in its greeting: it may be overloaded, in maintenance, or refusing this machine's address.";

    public const string WrongCredentials =
        "The server says the user name or password is wrong ([AUTH]): check both (the user name is often the whole e-mail address).";

    public const string MailboxInUse =
        "Another session holds the mailbox ([IN-USE]): a mail client or an earlier run is still connected. Close it or wait for it to end, then try again.";

    public const string TemporaryFailure =
        "The server has a temporary problem ([SYS/TEMP]): try again later; if it lasts, its administrator must look at it.";

    public const string PermanentFailure =
        "The server has a lasting problem with this mailbox ([SYS/PERM]): retrying will not help; its administrator must fix it.";

    public const string TokenRefused =
        "The server refused the token ([AUTH]): it may have expired, or be for another mailbox or another scope; get a new one for this mailbox.";

    public const string PlainTextLoginRefused =
        "The server refuses to sign in over plain text: use -TlsMode StartTls (STLS) or Auto, or port 995 with -TlsMode Implicit.";

    public const string BasicAuthenticationOff =
        "Check the user name and password; if they are right, this is Exchange Online's answer once Basic authentication is off for POP3: " +
        "sign in with OAuth2 instead (an Entra app with the POP.AccessAsApp permission, given as -TenantId and -ClientId, or a token to -AccessToken), " +
        "and check that POP is on for the mailbox (Set-CASMailbox -Identity <mailbox> -PopEnabled $true).";

    public const string SignInOnlyAfterStls =
        "The server offers no sign-in this module can use before STLS: use -TlsMode Auto or StartTls, not None.";

    public const string NoUsableSignIn =
        "The server offers no sign-in this module can use (USER, SASL PLAIN, LOGIN or XOAUTH2, APOP): ask its administrator which one it takes.";

    private static readonly Regex PlainTextWords = new(@"plain\s*text|cleartext|clear text|non-secure|insecure|unencrypted|\bTLS\b|\bSSL\b|encrypt",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>For a server that said nothing, or spoke TLS, where a plain-text greeting was
    /// expected. Outright on 995 or after a TLS record; elsewhere a slow greeting is as likely.</summary>
    public static string NoGreeting(int port, bool tlsRecord, TimeSpan timeout) =>
        port == Pop3Session.ImplicitTlsPort || tlsRecord
            ? PlainOnImplicitTlsPort
            : $"No greeting came within {timeout.TotalSeconds:0.###} s: either this port expects TLS from the first byte (try -TlsMode Implicit), or the server is slow to greet (raise -TimeoutSec).";

    /// <summary>For a server that could not be reached, by the connection error's ErrorId.</summary>
    public static string? ForConnectError(string errorId, int port) => errorId switch
    {
        "ConnectTimeout" => $"Nothing answered on port {port} in time: a firewall may drop the packets, or the server is down.",
        _ => ProbeHints.ForConnectError(errorId, port),
    };

    /// <summary>For a refused login: its -ERR line, how it was tried, and whether the connection
    /// was encrypted; null when nothing is known about it.</summary>
    public static string? ForLoginReply(string line, string mechanism, bool oauth, bool secure)
    {
        var text = line.StartsWith("-ERR", StringComparison.Ordinal) ? line.Substring(4).Trim() : line;
        var code = ResponseCode(text);
        switch (code)
        {
            case "IN-USE": return MailboxInUse;
            case "LOGIN-DELAY": return "The server allows this mailbox a login only every so often ([LOGIN-DELAY]) and an earlier one was too recent: wait and try again, and run scripts no more often than its LOGIN-DELAY.";
            case "SYS/TEMP": return TemporaryFailure;
            case "SYS/PERM": return PermanentFailure;
        }

        if (!secure && PlainTextWords.IsMatch(text))
        {
            return PlainTextLoginRefused;
        }

        if (oauth)
        {
            return AuthenticationHints.ForPop3Reply(line, true)?.Hint ?? (code == "AUTH" ? TokenRefused : null);
        }

        if (text.IndexOf("unknown user name or bad password", StringComparison.OrdinalIgnoreCase) >= 0 ||
            text.IndexOf("Logon failure", StringComparison.OrdinalIgnoreCase) >= 0 ||
            text.IndexOf("basic auth", StringComparison.OrdinalIgnoreCase) >= 0)
        {
            return BasicAuthenticationOff;
        }

        return code == "AUTH" ? WrongCredentials : null;
    }

    /// <summary>What CAPA says that the user of a script should know: a LOGIN-DELAY that this
    /// probe's own login (<paramref name="loggedIn"/>) now counts against, and EXPIRE 0.</summary>
    public static string[] ForCapabilities(Pop3Capabilities capabilities, bool loggedIn)
    {
        var hints = new System.Collections.Generic.List<string>();
        if (loggedIn && capabilities.LoginDelaySeconds is int delay && delay > 0)
        {
            hints.Add($"The server allows one login every {delay} s (LOGIN-DELAY): this probe's login counts, so a client that logs in within that time after it may be refused.");
        }

        if (capabilities.Expire != null && capabilities.Expire.Split(' ')[0] == "0")
        {
            hints.Add("The server deletes a message once a client has downloaded it (EXPIRE 0): Get-Pop3Message with -IncludeBody or -Destination removes what it downloads even without -Delete.");
        }

        return hints.ToArray();
    }

    private static string? ResponseCode(string text)
    {
        if (!text.StartsWith("[", StringComparison.Ordinal))
        {
            return null;
        }

        var end = text.IndexOf(']');
        return end > 1 ? text.Substring(1, end - 1).ToUpperInvariant() : null;
    }
}
