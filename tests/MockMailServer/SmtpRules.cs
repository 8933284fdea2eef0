namespace MockMail;

/// <summary>What a matching <see cref="SmtpRule"/> does.</summary>
public enum SmtpRuleAction
{
    /// <summary>Send <see cref="SmtpRule.Reply"/> instead of the normal reply.</summary>
    Reply,

    /// <summary>Close the TCP connection instead of replying (earlier buffered replies are flushed first).</summary>
    Close,

    /// <summary>Send <see cref="SmtpRule.Reply"/> (null/empty = the normal reply), then close.</summary>
    ReplyThenClose,

    /// <summary>Never answer; keep the connection open until the client closes it or the server stops.</summary>
    NeverReply,

    /// <summary>Wait <see cref="SmtpRule.DelayMs"/> (cancelled by Stop), then handle normally.</summary>
    Delay,

    /// <summary>On DATA: send 354, read <see cref="SmtpRule.AfterBytes"/> bytes of content, then reset the connection.</summary>
    CloseMidData,

    /// <summary>Send the reply (<see cref="SmtpRule.Reply"/>, or the normal reply if null/empty) one byte at a
    /// time, <see cref="SmtpRule.DelayMs"/> apart (0 = 1000), flushing each byte; then go on normally.</summary>
    Trickle,
}

/// <summary>
/// Scripted behaviour. Before a command is handled the first rule (in insertion order) whose
/// <see cref="Command"/> and <see cref="ArgumentContains"/> match and whose <see cref="Times"/> is not 0 fires.
/// Pseudo-commands: "CONNECT" (the greeting; argument "plain" or "implicit-tls") and "DOT" (end of message
/// data; argument = the message text). "*" matches everything, including CONNECT and DOT.
/// </summary>
public sealed class SmtpRule : IMockRule
{
    private int _hits;

    /// <summary>EHLO, HELO, STARTTLS, AUTH, MAIL, RCPT, DATA, RSET, NOOP, QUIT, ..., CONNECT, DOT or "*".</summary>
    public string Command { get; set; } = "*";

    /// <summary>Case-insensitive substring of the command argument; null or empty = any.</summary>
    public string? ArgumentContains { get; set; }

    public SmtpRuleAction Action { get; set; } = SmtpRuleAction.Reply;

    /// <summary>Full reply line(s), e.g. "550 5.1.1 &lt;bob@example.com&gt; No such user"; lines separated by CRLF or LF.</summary>
    public string? Reply { get; set; }

    public int DelayMs { get; set; }

    public int AfterBytes { get; set; }

    /// <summary>Remaining uses; -1 = unlimited; the rule is skipped at 0.</summary>
    public int Times { get; set; } = -1;

    /// <summary>How often the rule fired.</summary>
    public int Hits => System.Threading.Volatile.Read(ref _hits);

    internal void Hit() => System.Threading.Interlocked.Increment(ref _hits);

    void IMockRule.Hit() => Hit();

    RuleAction IMockRule.Kind => Action switch
    {
        SmtpRuleAction.Close => RuleAction.Close,
        SmtpRuleAction.ReplyThenClose => RuleAction.ReplyThenClose,
        SmtpRuleAction.NeverReply => RuleAction.NeverReply,
        SmtpRuleAction.Delay => RuleAction.Delay,
        SmtpRuleAction.CloseMidData => RuleAction.CloseMidTransfer,
        SmtpRuleAction.Trickle => RuleAction.Trickle,
        _ => RuleAction.Reply,
    };

    public override string ToString() =>
        $"{Command} [{ArgumentContains}] {Action} times={Times} hits={Hits}";
}
