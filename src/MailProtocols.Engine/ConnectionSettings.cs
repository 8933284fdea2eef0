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
