using System;
using System.Collections.Generic;
using System.Linq;

namespace MailProtocols.Engine.Smtp;

/// <summary>The stages of an SMTP probe, in the order a session goes through them (implicit TLS,
/// which comes before the greeting, is still the Tls stage).</summary>
public enum SmtpProbeStage
{
    Connect,
    Banner,
    Ehlo,
    Tls,
    Auth,
    Recipient,
}

/// <summary>What the server offered in one EHLO reply, as data.</summary>
public sealed class SmtpCapabilities
{
    /// <summary>The name the server gave on the first line of its reply.</summary>
    public string ServerName { get; set; } = "";

    /// <summary>Every extension line as the server sent it, e.g. "SIZE 52428800".</summary>
    public TextList<string> Extensions { get; set; } = TextList<string>.None;

    /// <summary>The SIZE limit in bytes; null when the server announced none (0: SIZE without a limit).</summary>
    public long? SizeLimit { get; set; }

    public bool Pipelining { get; set; }

    public bool Chunking { get; set; }

    public bool EightBitMime { get; set; }

    public bool SmtpUtf8 { get; set; }

    public bool Dsn { get; set; }

    public bool RequireTls { get; set; }

    public bool StartTls { get; set; }

    public bool EnhancedStatusCodes { get; set; }

    /// <summary>The AUTH mechanisms offered (none: no AUTH line).</summary>
    public TextList<string> AuthMechanisms { get; set; } = TextList<string>.None;

    /// <summary>True when the server answered HELO only (it refused EHLO): no extensions at all.</summary>
    public bool HeloOnly { get; set; }

    public override string ToString() => Extensions.Count == 0 ? "(none)" : string.Join(" ", Extensions.Select(e => e.Split(' ')[0]));

    internal static SmtpCapabilities FromEhlo(string replyText)
    {
        var lines = replyText.Split('\n');
        var extensions = new SmtpExtensions(lines.Skip(1));
        return new SmtpCapabilities
        {
            ServerName = lines[0].Split(' ')[0],
            Extensions = new TextList<string>(lines.Skip(1).Where(l => l.Trim().Length > 0).ToList()),
            SizeLimit = extensions.Size ? extensions.MaxSize : null,
            Pipelining = extensions.Pipelining,
            Chunking = extensions.Chunking,
            EightBitMime = extensions.EightBitMime,
            SmtpUtf8 = extensions.SmtpUtf8,
            Dsn = extensions.Dsn,
            RequireTls = extensions.Has("REQUIRETLS"),
            StartTls = extensions.StartTls,
            EnhancedStatusCodes = extensions.Has("ENHANCEDSTATUSCODES"),
            AuthMechanisms = new TextList<string>(extensions.AuthMechanisms),
        };
    }
}

/// <summary>The server's verdict on one recipient (RCPT TO), or on the sender (MAIL FROM).</summary>
public sealed class SmtpRecipientVerdict
{
    public string Address { get; set; } = "";

    public int StatusCode { get; set; }

    /// <summary>The reply as the server sent it, code included.</summary>
    public string Reply { get; set; } = "";

    public bool Accepted => StatusCode >= 200 && StatusCode < 300;

    /// <summary>A 4xx reply: the server may accept the address later (greylisting, a full queue).</summary>
    public bool Transient => StatusCode >= 400 && StatusCode < 500;

    public override string ToString() => $"{Address}: {Reply}";
}

/// <summary>What a probe of one SMTP endpoint found: the output object of Test-SmtpConnection.
/// A server that cannot be reached or refuses is a result too (Success false, FailedStage, Error).</summary>
public sealed class SmtpProbeResult : IProbeOutcome<SmtpProbeStage>
{
    public string SmtpServer { get; set; } = "";

    public int Port { get; set; }

    /// <summary>"host:port".</summary>
    public string Endpoint { get; set; } = "";

    /// <summary>The TLS mode asked for: Auto, None, StartTls or Implicit.</summary>
    public string TlsMode { get; set; } = "";

    /// <summary>The addresses the host name resolved to.</summary>
    public TextList<string> Addresses { get; set; } = TextList<string>.None;

    /// <summary>The address connected to.</summary>
    public string? RemoteAddress { get; set; }

    /// <summary>True when every stage run succeeded (a certificate that failed the check, or a
    /// missing STARTTLS in -TlsMode Auto, gives a Hint, not a failure).</summary>
    public bool Success { get; set; }

    /// <summary>The stage that failed, or null.</summary>
    public SmtpProbeStage? FailedStage { get; set; }

    /// <summary>What went wrong, in words; null on success.</summary>
    public string? Error { get; set; }

    /// <summary>The likely cause and fix of a failure, or what to look at even on success.</summary>
    public string? Hint { get; set; }

    /// <summary>The stages that ran, in order.</summary>
    public TextList<SmtpProbeStage> Stages { get; set; } = TextList<SmtpProbeStage>.None;

    public TimeSpan? ConnectTime { get; set; }

    public TimeSpan? BannerTime { get; set; }

    public TimeSpan? EhloTime { get; set; }

    /// <summary>The TLS handshake, with STARTTLS and the EHLO after it.</summary>
    public TimeSpan? TlsTime { get; set; }

    public TimeSpan? AuthTime { get; set; }

    /// <summary>MAIL FROM, every RCPT TO and RSET.</summary>
    public TimeSpan? RecipientTime { get; set; }

    public TimeSpan Elapsed { get; set; }

    /// <summary>The server's greeting, code included.</summary>
    public string? Banner { get; set; }

    /// <summary>The EHLO reply the session would go on with (after STARTTLS when TLS was started).</summary>
    public SmtpCapabilities? Capabilities { get; set; }

    /// <summary>The EHLO reply before STARTTLS; null when there was no STARTTLS.</summary>
    public SmtpCapabilities? CapabilitiesBeforeTls { get; set; }

    /// <summary>TLS as negotiated; null over plain text.</summary>
    public TlsReport? Tls { get; set; }

    /// <summary>The SASL mechanism used to sign in; null when there was no sign-in.</summary>
    public string? AuthMechanism { get; set; }

    /// <summary>The server's reply to the sign-in (never the credentials).</summary>
    public string? AuthReply { get; set; }

    public bool Authenticated { get; set; }

    /// <summary>The server's reply to MAIL FROM, with -To.</summary>
    public SmtpRecipientVerdict? Sender { get; set; }

    /// <summary>The server's verdict on each -To address; nothing was sent to them.</summary>
    public TextList<SmtpRecipientVerdict> Recipients { get; set; } = TextList<SmtpRecipientVerdict>.None;

    public override string ToString() => $"{Endpoint}: {(Success ? "OK" : $"failed at {FailedStage}")}";

    void IProbeOutcome<SmtpProbeStage>.SetStageTime(SmtpProbeStage stage, TimeSpan elapsed)
    {
        switch (stage)
        {
            case SmtpProbeStage.Connect: ConnectTime = elapsed; break;
            case SmtpProbeStage.Banner: BannerTime = elapsed; break;
            case SmtpProbeStage.Ehlo: EhloTime = elapsed; break;
            case SmtpProbeStage.Tls: TlsTime = elapsed; break;
            case SmtpProbeStage.Auth: AuthTime = elapsed; break;
            case SmtpProbeStage.Recipient: RecipientTime = elapsed; break;
        }
    }
}
