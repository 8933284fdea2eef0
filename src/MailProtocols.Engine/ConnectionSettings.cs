using System;
using System.Net;

namespace MailProtocols.Engine;

/// <summary>Where and how to connect; shared by the SMTP and POP3 sides.</summary>
public sealed class ConnectionSettings
{
    public string Host { get; set; } = "";

    /// <summary>0 = the protocol's default for the TLS mode (SMTP: 465 implicit, else 25).</summary>
    public int Port { get; set; }

    public TlsMode TlsMode { get; set; } = TlsMode.Auto;

    public bool SkipCertificateCheck { get; set; }

    /// <summary>Off by default: revocation servers are often unreachable from the networks where
    /// scheduled tasks run, and an unreachable CRL would otherwise fail every connection.</summary>
    public bool CheckCertificateRevocation { get; set; }

    /// <summary>User name and password, or, with <see cref="UseOAuth2"/>, user name and access token.
    /// Null: no authentication.</summary>
    public NetworkCredential? Credential { get; set; }

    public bool UseOAuth2 { get; set; }

    /// <summary>Signs in as the current logon (Kerberos, SASL GSSAPI) instead of with
    /// <see cref="Credential"/>, which stays null.</summary>
    public bool UseDefaultCredentials { get; set; }

    /// <summary>The mechanisms the user chose or excluded; null: the protocol's own order.</summary>
    public MechanismChoice? Mechanisms { get; set; }

    /// <summary>The Send-MailMessage rule (SMTP only): with no credential, when the server refuses
    /// a message at MAIL or RCPT for lack of authentication and offers GSSAPI, sign in as the current
    /// logon and send it again on the same session. Off unless the caller turns it on.</summary>
    public bool CurrentLogonWhenRefused { get; set; }

    /// <summary>With <see cref="UseOAuth2"/>: asked for the access token at every login (the
    /// password of <see cref="Credential"/> is then unused). Null: the password is the token.</summary>
    public OAuth.IAccessTokenSource? TokenSource { get; set; }

    /// <summary>The secret of an OAuth2 login as of now: a token from <see cref="TokenSource"/>
    /// (which keeps tokens and renews them), or the token given.</summary>
    internal string OAuth2Token(NetworkCredential credential, System.Threading.CancellationToken token) =>
        TokenSource == null ? credential.Password : TokenSource.GetToken(credential.UserName, Timeout, token).Value;

    /// <summary>Gets the token before the mail server is connected to (the login then takes it from
    /// the cache), so that a refused or unreachable token endpoint costs no mail connection.</summary>
    internal void PrefetchToken(System.Threading.CancellationToken token)
    {
        if (UseOAuth2 && TokenSource != null && Credential != null)
        {
            TokenSource.GetToken(Credential.UserName, Timeout, token);
        }
    }

    /// <summary>Allows credentials over a connection that is not encrypted. Off by default.</summary>
    public bool AllowUnencryptedAuthentication { get; set; }

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A file that receives the protocol transcript, secrets redacted. Null: none.</summary>
    public string? TranscriptPath { get; set; }

    /// <summary>Records the message data sent in the transcript; by default one line gives its size.</summary>
    public bool TranscriptIncludesMessageData { get; set; }

    /// <summary>"host:port", the target of connection errors.</summary>
    public string Endpoint => Host.IndexOf(':') >= 0 ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
