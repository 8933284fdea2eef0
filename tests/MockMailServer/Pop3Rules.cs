namespace MockMail;

/// <summary>What a matching <see cref="Pop3Rule"/> does.</summary>
public enum Pop3RuleAction
{
    /// <summary>Send <see cref="Pop3Rule.Reply"/> (all lines, as given) instead of the normal response.</summary>
    Reply,

    /// <summary>Close the TCP connection instead of replying (earlier buffered replies are flushed first).</summary>
    Close,

    /// <summary>Send <see cref="Pop3Rule.Reply"/> (null/empty = the normal response), then close.</summary>
    ReplyThenClose,

    /// <summary>Never answer; keep the connection open until the client closes it or the server stops.</summary>
    NeverReply,

    /// <summary>Wait <see cref="Pop3Rule.DelayMs"/> (cancelled by Stop), then handle normally.</summary>
    Delay,

    /// <summary>On RETR or TOP: send the +OK line and <see cref="Pop3Rule.AfterBytes"/> bytes of the
    /// (dot-stuffed) message, then reset the connection. On any other command: reset the connection.</summary>
    CloseMidRetr,

    /// <summary>Write <see cref="Pop3Rule.Reply"/> as-is (UTF-8, no CRLF added) instead of handling the
    /// command, then keep reading.</summary>
    SendRaw,

    /// <summary>Send the response (<see cref="Pop3Rule.Reply"/>, or the normal response if null/empty; for
    /// RETR/TOP the status line and the message) one byte at a time, <see cref="Pop3Rule.DelayMs"/> apart
    /// (0 = 1000), flushing each byte; then go on normally.</summary>
    Trickle,
}

/// <summary>
/// Scripted POP3 behaviour, matched like <see cref="SmtpRule"/>: before a command is handled the first rule
/// (in insertion order) whose <see cref="Command"/> and <see cref="ArgumentContains"/> match and whose
/// <see cref="Times"/> is not 0 fires. Pseudo-command "CONNECT" is the greeting (argument "plain" or
/// "implicit-tls"); "*" matches everything, including CONNECT.
/// </summary>
public sealed class Pop3Rule : IMockRule
{
    private int _hits;

    /// <summary>USER, PASS, APOP, AUTH, CAPA, STLS, STAT, LIST, UIDL, RETR, TOP, DELE, NOOP, RSET, QUIT, ..., CONNECT or "*".</summary>
    public string Command { get; set; } = "*";

    /// <summary>Case-insensitive substring of the command argument (the text after the verb); null or empty = any.</summary>
    public string? ArgumentContains { get; set; }

    public Pop3RuleAction Action { get; set; } = Pop3RuleAction.Reply;

    /// <summary>Reply line(s), e.g. "-ERR [SYS/TEMP] cannot delete" (lines separated by CRLF or LF), or the raw text for SendRaw.</summary>
    public string? Reply { get; set; }

    public int DelayMs { get; set; }

    public int AfterBytes { get; set; }

    /// <summary>Remaining uses; -1 = unlimited; the rule is skipped at 0.</summary>
    public int Times { get; set; } = -1;

    /// <summary>How often the rule fired.</summary>
    public int Hits => System.Threading.Volatile.Read(ref _hits);

    void IMockRule.Hit() => System.Threading.Interlocked.Increment(ref _hits);

    RuleAction IMockRule.Kind => Action switch
    {
        Pop3RuleAction.Close => RuleAction.Close,
        Pop3RuleAction.ReplyThenClose => RuleAction.ReplyThenClose,
        Pop3RuleAction.NeverReply => RuleAction.NeverReply,
        Pop3RuleAction.Delay => RuleAction.Delay,
        Pop3RuleAction.CloseMidRetr => RuleAction.CloseMidTransfer,
        Pop3RuleAction.SendRaw => RuleAction.SendRaw,
        Pop3RuleAction.Trickle => RuleAction.Trickle,
        _ => RuleAction.Reply,
    };

    public override string ToString() =>
        $"{Command} [{ArgumentContains}] {Action} times={Times} hits={Hits}";
}
