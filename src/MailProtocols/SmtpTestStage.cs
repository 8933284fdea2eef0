namespace MailProtocols;

/// <summary>
/// The stage after which Test-SmtpConnection ends its session (the -QuitAfter parameter). It
/// mirrors the engine's SmtpProbeStage under a name of its own, as MailTlsMode does: parameter
/// types come from this assembly, so that importing the module never needs the engine.
/// </summary>
public enum SmtpTestStage
{
    /// <summary>The TCP connection.</summary>
    Connect = Engine.Smtp.SmtpProbeStage.Connect,

    /// <summary>The server's greeting.</summary>
    Banner = Engine.Smtp.SmtpProbeStage.Banner,

    /// <summary>EHLO and the extensions it lists.</summary>
    Ehlo = Engine.Smtp.SmtpProbeStage.Ehlo,

    /// <summary>STARTTLS (or implicit TLS) and the EHLO after it.</summary>
    Tls = Engine.Smtp.SmtpProbeStage.Tls,

    /// <summary>The sign-in.</summary>
    Auth = Engine.Smtp.SmtpProbeStage.Auth,

    /// <summary>MAIL FROM and RCPT TO for each -To address, then RSET.</summary>
    Recipient = Engine.Smtp.SmtpProbeStage.Recipient,
}
