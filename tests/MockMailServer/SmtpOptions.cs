using System;

namespace MockMail;

/// <summary>
/// SMTP behaviour switches. A connection copies them when it starts and again at each EHLO/HELO,
/// so changes apply to new connections (or after the next EHLO).
/// </summary>
public sealed class SmtpOptions
{
    private string[] _authMechanisms = { "PLAIN", "LOGIN", "XOAUTH2" };
    private string _greeting = "mock.test ESMTP MockMail ready";
    private string _serverName = "mock.test";

    /// <summary>Advertise PIPELINING.</summary>
    public bool Pipelining { get; set; } = true;

    /// <summary>Advertise CHUNKING (RFC 3030) and accept BDAT. Off by default: the fault rules for DATA then apply as written.</summary>
    public bool Chunking { get; set; }

    /// <summary>Advertised as SIZE n and enforced (MAIL SIZE= and message data); 0 = no SIZE line, no limit.</summary>
    public long MaxSize { get; set; } = 52428800;

    public bool EightBitMime { get; set; } = true;

    public bool SmtpUtf8 { get; set; } = true;

    public bool Dsn { get; set; } = true;

    public bool EnhancedStatusCodes { get; set; } = true;

    /// <summary>Advertise and accept STARTTLS on the plain listener.</summary>
    public bool StartTls { get; set; } = true;

    /// <summary>Mechanisms advertised and accepted (PLAIN, LOGIN, XOAUTH2 are implemented); empty = no AUTH line.</summary>
    public string[] AuthMechanisms
    {
        get => _authMechanisms;
        set => _authMechanisms = value ?? Array.Empty<string>();
    }

    /// <summary>AUTH before TLS gets 538 5.7.11 (AUTH is still advertised).</summary>
    public bool AuthRequiresTls { get; set; }

    /// <summary>The reply to MAIL FROM before a successful AUTH (a relay that takes no anonymous
    /// mail), e.g. <c>530 5.7.57 Client not authenticated to send mail.</c>; null or empty: MAIL needs no AUTH.</summary>
    public string? UnauthenticatedMailReply { get; set; }

    /// <summary>The reply to RCPT TO before a successful AUTH for a recipient outside
    /// <see cref="AcceptedDomain"/> (an anonymous relay that delivers only to its own domain), e.g.
    /// <c>550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain</c>; null or empty: none.</summary>
    public string? UnauthenticatedRelayReply { get; set; }

    /// <summary>With <see cref="UnauthenticatedRelayReply"/>: the domain RCPT TO takes without AUTH; null or empty: none.</summary>
    public string? AcceptedDomain { get; set; }

    /// <summary>Text after "220 " in the greeting.</summary>
    public string Greeting
    {
        get => _greeting;
        set => _greeting = value ?? string.Empty;
    }

    /// <summary>Name in the first EHLO line and the HELO reply.</summary>
    public string ServerName
    {
        get => _serverName;
        set => _serverName = value ?? string.Empty;
    }

    /// <summary>STARTTLS is advertised, but the command answers 454 4.7.0 TLS not available.</summary>
    public bool StartTlsFails { get; set; }

    /// <summary>A refused BDAT LAST (no accepted recipient) leaves the transaction open, sender
    /// and all, until RSET: RFC 3030 does not say that it ends, and a server may answer the next
    /// MAIL with 503 (as Postfix does after a refused DATA).</summary>
    public bool KeepTransactionAfterFailedBdat { get; set; }

    /// <summary>Idle timeout per connection (421 4.4.2 then close); 0 = none. Default 120.</summary>
    public int IdleTimeoutSeconds { get; set; } = 120;

    /// <summary>Refuse AUTH with one of Exchange Online's replies (see <see cref="MockMail.ExchangeAuthRefusal"/>).</summary>
    public ExchangeAuthRefusal ExchangeAuthRefusal { get; set; }

    /// <summary>Exchange Online's daily sending limit: once the server accepted this many messages (since
    /// <see cref="MockServer.Reset"/>), the end of every further message's data gets
    /// <c>554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; ...</c>. -1 = no limit.</summary>
    public int DailyMessageQuota { get; set; } = -1;

    /// <summary>Exchange Online's limit of concurrent connections per mailbox: the end of a message's data
    /// in a session while more SMTP connections than this are open gets <c>432 4.3.2 Concurrent
    /// connections limit exceeded.</c>; 0 = no limit.</summary>
    public int MaxConcurrentSessions { get; set; }

    internal SmtpOptions Clone()
    {
        var copy = new SmtpOptions();
        copy.CopyFrom(this);
        return copy;
    }

    internal void CopyFrom(SmtpOptions other)
    {
        Pipelining = other.Pipelining;
        Chunking = other.Chunking;
        MaxSize = other.MaxSize;
        EightBitMime = other.EightBitMime;
        SmtpUtf8 = other.SmtpUtf8;
        Dsn = other.Dsn;
        EnhancedStatusCodes = other.EnhancedStatusCodes;
        StartTls = other.StartTls;
        AuthMechanisms = (string[])other.AuthMechanisms.Clone();
        AuthRequiresTls = other.AuthRequiresTls;
        Greeting = other.Greeting;
        ServerName = other.ServerName;
        StartTlsFails = other.StartTlsFails;
        IdleTimeoutSeconds = other.IdleTimeoutSeconds;
        KeepTransactionAfterFailedBdat = other.KeepTransactionAfterFailedBdat;
        ExchangeAuthRefusal = other.ExchangeAuthRefusal;
        DailyMessageQuota = other.DailyMessageQuota;
        MaxConcurrentSessions = other.MaxConcurrentSessions;
        UnauthenticatedMailReply = other.UnauthenticatedMailReply;
        UnauthenticatedRelayReply = other.UnauthenticatedRelayReply;
        AcceptedDomain = other.AcceptedDomain;
    }
}
