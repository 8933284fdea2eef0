using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace MailProtocols.Engine.Pop3;

/// <summary>The stages of a POP3 probe, in the order a session goes through them (implicit TLS,
/// which comes before the greeting, is still the Tls stage).</summary>
public enum Pop3ProbeStage
{
    Connect,
    Greeting,
    Capa,
    Tls,
    Auth,
    Stat,
}

/// <summary>What the server offered in one CAPA reply (RFC 2449), as data.</summary>
public sealed class Pop3Capabilities
{
    /// <summary>Every capability line as the server sent it, e.g. "SASL PLAIN LOGIN".</summary>
    public TextList<string> Lines { get; set; } = TextList<string>.None;

    public bool Top { get; set; }

    public bool Uidl { get; set; }

    public bool Pipelining { get; set; }

    /// <summary>USER/PASS sign-in offered.</summary>
    public bool User { get; set; }

    public bool Stls { get; set; }

    /// <summary>RESP-CODES: -ERR replies carry codes such as [IN-USE] and [SYS/TEMP].</summary>
    public bool RespCodes { get; set; }

    /// <summary>AUTH-RESP-CODE: a refused sign-in says [AUTH] when the credentials were wrong.</summary>
    public bool AuthRespCode { get; set; }

    /// <summary>The SASL mechanisms offered (none: no SASL line).</summary>
    public TextList<string> SaslMechanisms { get; set; } = TextList<string>.None;

    /// <summary>The EXPIRE value as sent: days the server keeps a downloaded message, "NEVER",
    /// "0" (deleted once downloaded), with " USER" when it differs per user; null when not announced.</summary>
    public string? Expire { get; set; }

    /// <summary>LOGIN-DELAY: the seconds a client must wait between logins, or null.</summary>
    public int? LoginDelaySeconds { get; set; }

    /// <summary>The IMPLEMENTATION text, or null.</summary>
    public string? Implementation { get; set; }

    /// <summary>The capability names, e.g. "TOP UIDL SASL USER".</summary>
    public override string ToString() => Lines.Count == 0 ? "(none)" : string.Join(" ", Lines.Select(l => l.Split(' ')[0]));

    internal static Pop3Capabilities FromLines(IReadOnlyList<string> lines)
    {
        var capabilities = new Pop3Capabilities { Lines = new TextList<string>(lines.Where(l => l.Trim().Length > 0).ToList()) };
        foreach (var line in capabilities.Lines)
        {
            var parts = line.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);
            var rest = parts.Length > 1 ? string.Join(" ", parts.Skip(1)) : "";
            switch (parts[0].ToUpperInvariant())
            {
                case "TOP": capabilities.Top = true; break;
                case "UIDL": capabilities.Uidl = true; break;
                case "PIPELINING": capabilities.Pipelining = true; break;
                case "USER": capabilities.User = true; break;
                case "STLS": capabilities.Stls = true; break;
                case "RESP-CODES": capabilities.RespCodes = true; break;
                case "AUTH-RESP-CODE": capabilities.AuthRespCode = true; break;
                case "SASL": capabilities.SaslMechanisms = new TextList<string>(parts.Skip(1).Select(m => m.ToUpperInvariant()).ToList()); break;
                case "EXPIRE": capabilities.Expire = rest.Length == 0 ? null : rest; break;
                case "LOGIN-DELAY":
                    capabilities.LoginDelaySeconds = parts.Length > 1 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var delay) ? delay : null;
                    break;
                case "IMPLEMENTATION": capabilities.Implementation = rest; break;
            }
        }

        return capabilities;
    }
}

/// <summary>What a probe of one POP3 endpoint found: the output object of Test-Pop3Connection.
/// A server that cannot be reached or refuses is a result too (Success false, FailedStage, Error).</summary>
public sealed class Pop3ProbeResult : IProbeOutcome<Pop3ProbeStage>
{
    public string Pop3Server { get; set; } = "";

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
    /// missing STLS in -TlsMode Auto, gives a Hint, not a failure).</summary>
    public bool Success { get; set; }

    /// <summary>The stage that failed, or null.</summary>
    public Pop3ProbeStage? FailedStage { get; set; }

    /// <summary>What went wrong, in words; null on success.</summary>
    public string? Error { get; set; }

    /// <summary>The likely causes and fixes of a failure, or what to look at even on success: one per line.</summary>
    public string? Hint { get; set; }

    /// <summary>The stages that ran, in order.</summary>
    public TextList<Pop3ProbeStage> Stages { get; set; } = TextList<Pop3ProbeStage>.None;

    public TimeSpan? ConnectTime { get; set; }

    public TimeSpan? GreetingTime { get; set; }

    public TimeSpan? CapaTime { get; set; }

    /// <summary>The TLS handshake, with STLS and the CAPA after it.</summary>
    public TimeSpan? TlsTime { get; set; }

    public TimeSpan? AuthTime { get; set; }

    public TimeSpan? StatTime { get; set; }

    public TimeSpan Elapsed { get; set; }

    /// <summary>The server's greeting, "+OK" included.</summary>
    public string? Greeting { get; set; }

    /// <summary>The APOP timestamp of the greeting ("&lt;...&gt;"): the server offers APOP. Null: none.</summary>
    public string? ApopTimestamp { get; set; }

    /// <summary>False when the server answered CAPA with -ERR (a server older than RFC 2449).</summary>
    public bool CapaSupported { get; set; }

    /// <summary>The CAPA reply the session would go on with (after STLS when TLS was started).</summary>
    public Pop3Capabilities? Capabilities { get; set; }

    /// <summary>The CAPA reply before STLS; null when there was no STLS.</summary>
    public Pop3Capabilities? CapabilitiesBeforeTls { get; set; }

    /// <summary>TLS as negotiated; null over plain text.</summary>
    public TlsReport? Tls { get; set; }

    /// <summary>How the probe signed in: XOAUTH2, PLAIN, LOGIN, USER or APOP; null when it did not try.</summary>
    public string? AuthMechanism { get; set; }

    /// <summary>The server's reply to the sign-in (never the credentials).</summary>
    public string? AuthReply { get; set; }

    public bool Authenticated { get; set; }

    /// <summary>The messages in the mailbox (STAT), once signed in.</summary>
    public int? MessageCount { get; set; }

    /// <summary>Their total size in octets (STAT).</summary>
    public long? MailboxSize { get; set; }

    public override string ToString() => $"{Endpoint}: {(Success ? "OK" : $"failed at {FailedStage}")}";

    void IProbeOutcome<Pop3ProbeStage>.SetStageTime(Pop3ProbeStage stage, TimeSpan elapsed)
    {
        switch (stage)
        {
            case Pop3ProbeStage.Connect: ConnectTime = elapsed; break;
            case Pop3ProbeStage.Greeting: GreetingTime = elapsed; break;
            case Pop3ProbeStage.Capa: CapaTime = elapsed; break;
            case Pop3ProbeStage.Tls: TlsTime = elapsed; break;
            case Pop3ProbeStage.Auth: AuthTime = elapsed; break;
            case Pop3ProbeStage.Stat: StatTime = elapsed; break;
        }
    }
}
