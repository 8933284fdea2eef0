using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net.Sockets;
using System.Threading;

namespace MockMail;

/// <summary>The SMTP protocol for one connection, run on its own background thread.</summary>
internal sealed class SmtpSession : SessionBase
{
    private const int MaxDataLine = 1024 * 1024;

    private static readonly byte[] CrLf = { 13, 10 };
    private static readonly byte[] Lf = { 10 };

    private readonly SmtpSessionRecord _rec;
    private SmtpOptions _opts;
    private bool _greeted;
    private bool _refused;
    private string? _authUser;
    private SmtpTransactionRecord? _tx;
    private bool _txUtf8;
    private Pending _pending;
    private MemoryStream? _bdat; // the chunks of the current BDAT transaction so far
    private readonly byte[] _chunkBuffer = new byte[16384];

    internal SmtpSession(MockServer server, Socket socket, SmtpSessionRecord record, bool implicitTls, int generation, CancellationToken stopToken)
        : base(server, socket, record, implicitTls, generation, stopToken)
    {
        _rec = record;
        _opts = server.SnapshotOptions();
    }

    private enum Pending
    {
        None,
        Data,
        StartTls,
        Quit,
    }

    protected override int MaxCommandLine => 4096;

    protected override string LineTooLongReply => R(500, "5.5.2", "Line too long");

    protected override int IdleTimeoutSeconds => _opts.IdleTimeoutSeconds;

    protected override string SaslChallengePrefix => "334 ";

    // ---------------------------------------------------------------- session plumbing

    private static bool Is2xx(string reply) => reply.Length > 0 && reply[0] == '2';

    /// <summary>Reply text with or without the enhanced status code, as configured.</summary>
    private string R(int code, string enhanced, string text) =>
        _opts.EnhancedStatusCodes
            ? code.ToString(CultureInfo.InvariantCulture) + " " + enhanced + " " + text
            : code.ToString(CultureInfo.InvariantCulture) + " " + text;

    protected override void OnIdleTimeout()
    {
        try
        {
            Send(R(421, "4.4.2", _opts.ServerName + " Idle timeout, closing connection"));
            _io.Flush();
        }
        catch (Exception)
        {
            // best effort
        }
    }

    // ---------------------------------------------------------------- greeting and dispatch

    protected override void Greet()
    {
        var rule = _server.MatchRule("CONNECT", _implicitTls ? "implicit-tls" : "plain");
        if (!ApplyRule(rule, false, out var overrideReply, out var closeAfter, out _))
        {
            return;
        }

        string reply = overrideReply ?? "220 " + _opts.Greeting;
        _refused = !Is2xx(reply);
        Send(reply);
        if (closeAfter)
        {
            CloseGraceful(byServer: true);
        }
    }

    protected override void HandleCommand(string text)
    {
        string trimmed = text.Trim();
        int space = trimmed.IndexOf(' ');
        string verb = (space < 0 ? trimmed : trimmed.Substring(0, space)).ToUpperInvariant();
        string arg = space < 0 ? string.Empty : trimmed.Substring(space + 1).Trim();

        // Without PIPELINING a client must wait for each reply: input already waiting behind a
        // command (other than BDAT, whose data follows it) was sent ahead.
        if (!_opts.Pipelining && verb != "BDAT" && _io.HasBufferedInput)
        {
            _rec.UnallowedPipelining++;
        }

        var rule = _server.MatchRule(verb, arg);
        if (!ApplyRule(rule, verb == "DATA", out var overrideReply, out var closeAfter, out var midDataBytes))
        {
            return;
        }

        _pending = Pending.None;
        if (_refused && overrideReply == null && verb != "QUIT")
        {
            Send(R(503, "5.5.1", "No SMTP service here"));
        }
        else
        {
            Dispatch(verb, arg, overrideReply);
        }

        if (closeAfter)
        {
            CloseGraceful(byServer: true);
            return;
        }

        switch (_pending)
        {
            case Pending.Data:
                ReceiveData(midDataBytes);
                break;
            case Pending.StartTls:
                StartTls();
                break;
            case Pending.Quit:
                CloseGraceful(byServer: false);
                break;
        }
    }

    private void Dispatch(string verb, string arg, string? overrideReply)
    {
        switch (verb)
        {
            case "EHLO":
                DoHelo(arg, overrideReply, extended: true);
                break;
            case "HELO":
                DoHelo(arg, overrideReply, extended: false);
                break;
            case "STARTTLS":
                DoStartTls(arg, overrideReply);
                break;
            case "AUTH":
                DoAuth(arg, overrideReply);
                break;
            case "MAIL":
                DoMail(arg, overrideReply);
                break;
            case "RCPT":
                DoRcpt(arg, overrideReply);
                break;
            case "DATA":
                DoData(overrideReply);
                break;
            case "BDAT":
                DoBdat(arg, overrideReply);
                break;
            case "RSET":
                Send(overrideReply ?? R(250, "2.0.0", "Ok"));
                if (Is2xx(overrideReply ?? "2"))
                {
                    _tx = null;
                    _bdat = null;
                }

                break;
            case "NOOP":
                Send(overrideReply ?? R(250, "2.0.0", "Ok"));
                break;
            case "VRFY":
                Send(overrideReply ?? R(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"));
                break;
            case "HELP":
                Send(overrideReply ?? R(214, "2.0.0", "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP VRFY QUIT"));
                break;
            case "QUIT":
                _rec.QuitReceived = true;
                Send(overrideReply ?? R(221, "2.0.0", "Bye"));
                if (overrideReply == null || overrideReply.StartsWith("221", StringComparison.Ordinal))
                {
                    _pending = Pending.Quit;
                }

                break;
            default:
                Send(overrideReply ?? R(500, "5.5.2", "Command not recognized"));
                break;
        }
    }

    // ---------------------------------------------------------------- EHLO / HELO / STARTTLS

    private void DoHelo(string arg, string? overrideReply, bool extended)
    {
        _opts = _server.SnapshotOptions();
        if (overrideReply != null)
        {
            Send(overrideReply);
            if (Is2xx(overrideReply))
            {
                Greeted(arg);
            }

            return;
        }

        if (arg.Length == 0)
        {
            Send(R(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"));
            return;
        }

        Greeted(arg);
        if (!extended)
        {
            Send("250 " + _opts.ServerName);
            return;
        }

        var lines = new List<string> { _opts.ServerName + " Hello " + arg };
        lines.AddRange(Enabled(
            (_opts.Pipelining, "PIPELINING"),
            (_opts.Chunking, "CHUNKING"),
            (_opts.MaxSize > 0, "SIZE " + _opts.MaxSize.ToString(CultureInfo.InvariantCulture)),
            (_opts.EightBitMime, "8BITMIME"),
            (_opts.SmtpUtf8, "SMTPUTF8"),
            (_opts.Dsn, "DSN"),
            (_opts.EnhancedStatusCodes, "ENHANCEDSTATUSCODES"),
            (_opts.StartTls && !_tls, "STARTTLS"),
            (_opts.AuthMechanisms.Length > 0, "AUTH " + string.Join(" ", _opts.AuthMechanisms))));
        for (int i = 0; i < lines.Count; i++)
        {
            _io.WriteLine((i == lines.Count - 1 ? "250 " : "250-") + lines[i]);
        }
    }

    private void Greeted(string arg)
    {
        _tx = null;
        _greeted = true;
        _rec.EhloName = arg;
    }

    private void DoStartTls(string arg, string? overrideReply)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            if (overrideReply.StartsWith("220", StringComparison.Ordinal) && !_tls)
            {
                _pending = Pending.StartTls;
            }

            return;
        }

        if (_tls)
        {
            Send(R(503, "5.5.1", "TLS already active"));
        }
        else if (!_opts.StartTls)
        {
            Send(R(502, "5.5.1", "STARTTLS not supported"));
        }
        else if (arg.Length > 0)
        {
            Send(R(501, "5.5.4", "Syntax: STARTTLS takes no parameters"));
        }
        else if (_opts.StartTlsFails)
        {
            Send(R(454, "4.7.0", "TLS not available"));
        }
        else
        {
            Send(R(220, "2.0.0", "Ready to start TLS"));
            _pending = Pending.StartTls;
        }
    }

    private void StartTls()
    {
        // The client waits for the 220 and then starts the handshake: one round trip.
        _io.FlushForWait();

        // RFC 3207: forget everything learned before TLS; the client must EHLO again.
        _tx = null;
        _greeted = false;
        _authUser = null;
        _rec.AuthUser = null;
        _rec.AuthMechanism = null;
        Handshake();
    }

    // ---------------------------------------------------------------- AUTH

    private void DoAuth(string arg, string? overrideReply)
    {
        _rec.AuthAttempts++;
        if (overrideReply != null)
        {
            Send(overrideReply);
            return;
        }

        if (!_greeted)
        {
            Send(R(503, "5.5.1", "Send EHLO first"));
            return;
        }

        if (_authUser != null)
        {
            Send(R(503, "5.5.1", "Already authenticated"));
            return;
        }

        if (_tx != null)
        {
            Send(R(503, "5.5.1", "AUTH not permitted during a mail transaction"));
            return;
        }

        string[] mechanisms = _opts.AuthMechanisms;
        if (mechanisms.Length == 0)
        {
            Send(R(503, "5.5.1", "AUTH not available"));
            return;
        }

        if (!TryParseAuth(arg, out string mechanism, out string? initial))
        {
            Send(R(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
            return;
        }

        if (!Offers(mechanisms, mechanism))
        {
            Send(R(504, "5.5.4", "Unrecognized authentication type"));
            return;
        }

        if (_opts.AuthRequiresTls && !_tls)
        {
            Send(R(538, "5.7.11", "Encryption required for requested authentication mechanism"));
            return;
        }

        if (!Authenticate(mechanism, initial))
        {
            Send(R(504, "5.5.4", "Unrecognized authentication type"));
        }
    }

    protected override void OnAuthenticated(string user, string mechanism)
    {
        if (ExchangeRefusal(mechanism) is { } refusal)
        {
            Send(refusal);
            return;
        }

        _authUser = user;
        _rec.AuthUser = user;
        _rec.AuthMechanism = mechanism;
        Send(R(235, "2.7.0", "Authentication successful"));
    }

    protected override bool Xoauth2ErrorChallenge => _opts.ExchangeAuthRefusal == ExchangeAuthRefusal.None;

    /// <summary>The reply with which Exchange Online would end this AUTH, whatever the credentials; null
    /// when the mock answers as usual. The texts are Exchange Online's as Microsoft documents them.</summary>
    private string? ExchangeRefusal(string mechanism) => _opts.ExchangeAuthRefusal switch
    {
        ExchangeAuthRefusal.AuthenticationUnsuccessful => "535 5.7.3 Authentication unsuccessful [MOCK01.mock.test]",
        ExchangeAuthRefusal.SmtpAuthDisabledForTenant =>
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [MOCK01.mock.test]",
        ExchangeAuthRefusal.SmtpAuthDisabledForMailbox =>
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [MOCK01.mock.test]",
        ExchangeAuthRefusal.BasicAuthNotSupported when mechanism != "XOAUTH2" =>
            "550 5.7.30 Basic authentication is not supported for Client Submission.",
        _ => null,
    };

    protected override string SaslFailureReply(SaslFailure failure) => failure switch
    {
        SaslFailure.BadCredentials or SaslFailure.TokenRejected when ExchangeRefusal(SaslMechanism) is { } refusal => refusal,
        SaslFailure.CannotDecode => R(501, "5.5.2", "Cannot decode response"),
        SaslFailure.MalformedPlain => R(501, "5.5.2", "Malformed PLAIN response"),
        SaslFailure.LineTooLong => R(500, "5.5.6", "Authentication exchange line is too long"),
        SaslFailure.Cancelled => R(501, "5.7.0", "Authentication cancelled"),
        SaslFailure.BadCredentials => R(535, "5.7.8", "Authentication credentials invalid"),
        _ => R(535, "5.7.8", "Authentication failed"),
    };

    // ---------------------------------------------------------------- MAIL / RCPT / DATA

    private static bool TryParsePath(string arg, string keyword, out string address, out Dictionary<string, string> parameters)
    {
        address = string.Empty;
        parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (!arg.StartsWith(keyword, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        string rest = arg.Substring(keyword.Length).TrimStart();
        if (rest.Length == 0 || rest[0] != '<')
        {
            return false;
        }

        int i = 1;
        bool quoted = false;
        for (; i < rest.Length; i++)
        {
            char c = rest[i];
            if (quoted)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == '>')
            {
                break;
            }
        }

        if (i >= rest.Length)
        {
            return false;
        }

        string path = rest.Substring(1, i - 1);
        if (path.StartsWith("@", StringComparison.Ordinal))
        {
            int colon = path.IndexOf(':');
            if (colon < 0)
            {
                return false;
            }

            path = path.Substring(colon + 1); // drop the obsolete source route
        }

        string tail = rest.Substring(i + 1);
        if (tail.Length > 0 && tail[0] != ' ')
        {
            return false;
        }

        foreach (string p in tail.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = p.IndexOf('=');
            string key = eq < 0 ? p : p.Substring(0, eq);
            if (key.Length == 0)
            {
                return false;
            }

            parameters[key.ToUpperInvariant()] = eq < 0 ? string.Empty : p.Substring(eq + 1);
        }

        address = path;
        return true;
    }

    private static bool IsNonAscii(string s)
    {
        foreach (char c in s)
        {
            if (c > 127)
            {
                return true;
            }
        }

        return false;
    }

    private void StartTransaction(string address, Dictionary<string, string> parameters)
    {
        _tx = new SmtpTransactionRecord(_server.Sync, _rec.Id, address, parameters, _tls, _authUser);
        _txUtf8 = parameters.ContainsKey("SMTPUTF8");
        _rec.AddTransaction(_tx);
    }

    private void DoMail(string arg, string? overrideReply)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            if (Is2xx(overrideReply))
            {
                TryParsePath(arg, "FROM:", out var a, out var p);
                StartTransaction(a, p);
            }

            return;
        }

        if (!_greeted)
        {
            Send(R(503, "5.5.1", "Send EHLO/HELO first"));
            return;
        }

        if (_tx != null)
        {
            Send(R(503, "5.5.1", "Nested MAIL command"));
            return;
        }

        if (!TryParsePath(arg, "FROM:", out var address, out var parameters))
        {
            Send(R(501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"));
            return;
        }

        if (_authUser == null && _opts.UnauthenticatedMailReply is { Length: > 0 } unauthenticated)
        {
            Send(unauthenticated);
            return;
        }

        string? error = ValidateMailParameters(parameters);
        if (error != null)
        {
            Send(error);
            return;
        }

        if (IsNonAscii(address) && !(_opts.SmtpUtf8 && parameters.ContainsKey("SMTPUTF8")))
        {
            Send(R(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
            return;
        }

        StartTransaction(address, parameters);
        Send(R(250, "2.1.0", "Sender OK"));
    }

    private string? ValidateMailParameters(Dictionary<string, string> parameters)
    {
        foreach (var kv in parameters)
        {
            string value = kv.Value.ToUpperInvariant();
            switch (kv.Key)
            {
                case "SIZE":
                    if (!long.TryParse(kv.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long size))
                    {
                        return R(501, "5.5.4", "Invalid SIZE parameter");
                    }

                    if (_opts.MaxSize > 0 && size > _opts.MaxSize)
                    {
                        return R(552, "5.3.4", "Message size exceeds fixed maximum message size");
                    }

                    break;
                case "BODY":
                    if (value == "7BIT" || (value == "8BITMIME" && _opts.EightBitMime))
                    {
                        break;
                    }

                    return R(555, "5.5.4", "Unsupported BODY type " + kv.Value);
                case "SMTPUTF8":
                    if (!_opts.SmtpUtf8)
                    {
                        return R(555, "5.5.4", "SMTPUTF8 not supported");
                    }

                    break;
                case "RET":
                    if (!_opts.Dsn)
                    {
                        return R(555, "5.5.4", "DSN not supported");
                    }

                    if (value != "FULL" && value != "HDRS")
                    {
                        return R(501, "5.5.4", "Invalid RET parameter");
                    }

                    break;
                case "ENVID":
                    if (!_opts.Dsn)
                    {
                        return R(555, "5.5.4", "DSN not supported");
                    }

                    break;
                case "AUTH":
                    break;
                default:
                    return R(555, "5.5.4", "Unsupported parameter " + kv.Key);
            }
        }

        return null;
    }

    private void DoRcpt(string arg, string? overrideReply)
    {
        var tx = _tx;
        if (tx == null)
        {
            Send(overrideReply ?? R(503, "5.5.1", "Need MAIL before RCPT"));
            return;
        }

        bool parsed = TryParsePath(arg, "TO:", out var address, out var parameters);
        if (!parsed)
        {
            address = arg;
        }

        string reply;
        if (overrideReply != null)
        {
            reply = overrideReply;
        }
        else if (!parsed)
        {
            reply = R(501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]");
        }
        else if (address.Length == 0)
        {
            reply = R(501, "5.1.3", "Bad recipient address syntax");
        }
        else
        {
            reply = ValidateRcptParameters(parameters)
                ?? (IsNonAscii(address) && !_txUtf8 ? R(553, "5.6.7", "Non-ASCII address requires SMTPUTF8") : null)
                ?? RelayRefusal(address)
                ?? R(250, "2.1.5", "Recipient OK");
        }

        tx.AddRecipient(new SmtpRecipientRecord(address, parameters, Is2xx(reply), reply));
        Send(reply);
    }

    private string? RelayRefusal(string address) =>
        _authUser == null && _opts.UnauthenticatedRelayReply is { Length: > 0 } refusal &&
        (string.IsNullOrEmpty(_opts.AcceptedDomain) || !address.EndsWith("@" + _opts.AcceptedDomain, StringComparison.OrdinalIgnoreCase))
            ? refusal
            : null;

    private string? ValidateRcptParameters(Dictionary<string, string> parameters)
    {
        foreach (var kv in parameters)
        {
            switch (kv.Key)
            {
                case "NOTIFY":
                case "ORCPT":
                    if (!_opts.Dsn)
                    {
                        return R(555, "5.5.4", "DSN not supported");
                    }

                    break;
                default:
                    return R(555, "5.5.4", "Unsupported parameter " + kv.Key);
            }
        }

        return null;
    }

    private void DoData(string? overrideReply)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            if (overrideReply.StartsWith("3", StringComparison.Ordinal) && _tx != null)
            {
                _pending = Pending.Data;
            }

            return;
        }

        if (_tx == null)
        {
            Send(R(503, "5.5.1", "Need MAIL command"));
            return;
        }

        if (!_tx.HasAcceptedRecipient())
        {
            Send(R(554, "5.5.1", "No valid recipients"));
            return;
        }

        Send("354 Start mail input; end with <CRLF>.<CRLF>");
        _pending = Pending.Data;
    }

    private void ReceiveData(int abortAfterBytes)
    {
        var tx = _tx!;
        _tx = null; // whatever happens next, the transaction ends here
        if (abortAfterBytes >= 0)
        {
            ReceiveThenAbort(abortAfterBytes);
            return;
        }

        using var body = new MemoryStream();
        byte[]? pendingTerminator = null;
        bool tooLong = false;
        while (true)
        {
            var status = _io.ReadLine(MaxDataLine, out var line, out var crlf);
            if (status == LineStatus.Eof)
            {
                _closed = true;
                return;
            }

            if (status == LineStatus.TooLong)
            {
                tooLong = true;
                continue;
            }

            if (line.Length == 1 && line[0] == (byte)'.')
            {
                break;
            }

            if (pendingTerminator != null)
            {
                body.Write(pendingTerminator, 0, pendingTerminator.Length);
            }

            int skip = line.Length > 0 && line[0] == (byte)'.' ? 1 : 0; // dot-unstuffing
            body.Write(line, skip, line.Length - skip);
            pendingTerminator = crlf ? CrLf : Lf;
        }

        FinishData(tx, body.ToArray(), tooLong);
    }

    /// <summary>The end of a message's data (the "." of DATA, or BDAT LAST): the DOT rules
    /// apply, then the final reply.</summary>
    private void FinishData(SmtpTransactionRecord tx, byte[] data, bool tooLong)
    {
        tx.SetData(data);

        var rule = _server.MatchRule("DOT", tx.DataText ?? string.Empty);
        if (!ApplyRule(rule, false, out var overrideReply, out var closeAfter, out _))
        {
            return;
        }

        string reply;
        string? queueId = null;
        if (overrideReply != null)
        {
            reply = overrideReply;
        }
        else if (tooLong)
        {
            reply = R(500, "5.5.2", "Line too long");
        }
        else if (_opts.MaxSize > 0 && data.Length > _opts.MaxSize)
        {
            reply = R(552, "5.3.4", "Message size exceeds fixed maximum message size");
        }
        else if (_opts.MaxConcurrentSessions > 0 && _server.ActiveSmtpSessionCount > _opts.MaxConcurrentSessions)
        {
            // Exchange Online's text, as Microsoft's "Message storage and concurrent connection
            // throttling for SMTP Authenticated Submission" (learn.microsoft.com) gives it; it
            // comes after the data, as clients report it (an SMTPDataError in aiosmtplib).
            reply = "432 4.3.2 Concurrent connections limit exceeded.";
        }
        else if (_opts.DailyMessageQuota >= 0 && _server.Messages.Length >= _opts.DailyMessageQuota)
        {
            // The same page gives Exchange Online's reply past the daily limit as "554 5.2.0
            // STOREDRV.Submission.Exception:SubmissionQuotaExceededException"; the rest is as users report it.
            reply = "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message Cannot submit message.";
        }
        else
        {
            queueId = _server.NextQueueId();
            reply = R(250, "2.0.0", "Ok: queued as " + queueId);
        }

        bool completed = Is2xx(reply);
        if (completed && queueId == null)
        {
            queueId = _server.NextQueueId();
        }

        tx.Finish(completed, reply, completed ? queueId : null);
        if (completed)
        {
            _server.OnMessageAccepted(tx, _generation);
        }

        Send(reply);
        if (closeAfter)
        {
            CloseGraceful(byServer: true);
        }
    }

    /// <summary>BDAT n [LAST] (RFC 3030): exactly n octets of data follow the command, whatever
    /// the reply; LAST ends the transaction, successful or not.</summary>
    private void DoBdat(string arg, string? overrideReply)
    {
        var parts = arg.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);
        if (!_opts.Chunking || parts.Length == 0 || parts.Length > 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long size) ||
            (parts.Length == 2 && !parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase)))
        {
            Send(overrideReply ?? R(501, "5.5.4", "Syntax: BDAT size [LAST]"));
            return;
        }

        bool last = parts.Length == 2;
        var tx = _tx;
        bool accepted = overrideReply == null && tx != null && tx.HasAcceptedRecipient();
        Stream sink = accepted ? (_bdat ??= new MemoryStream()) : Stream.Null;
        for (long left = size; left > 0;)
        {
            int n = _io.ReadRaw(_chunkBuffer, 0, (int)Math.Min(_chunkBuffer.Length, left));
            if (n == 0)
            {
                _closed = true;
                return;
            }

            sink.Write(_chunkBuffer, 0, n);
            left -= n;
        }

        if (!accepted)
        {
            Send(overrideReply ?? (tx == null ? R(503, "5.5.1", "Need MAIL command") : R(554, "5.5.1", "No valid recipients")));
            if (last && !(_opts.KeepTransactionAfterFailedBdat && tx != null))
            {
                _tx = null;
                _bdat = null;
            }

            return;
        }

        if (!last)
        {
            Send(R(250, "2.0.0", size.ToString(CultureInfo.InvariantCulture) + " octets received"));
            return;
        }

        var data = _bdat!.ToArray();
        _bdat = null;
        _tx = null;
        FinishData(tx!, data, tooLong: false);
    }

    /// <summary>CloseMidData: read up to <paramref name="count"/> content bytes (stopping early at the
    /// end-of-data marker), then reset the connection without a reply.</summary>
    private void ReceiveThenAbort(int count)
    {
        if (count == 0)
        {
            _io.Flush();
            AbortConnection();
            return;
        }

        byte[] buffer = new byte[8192];
        ulong tail = 0x0D0A; // data starts right after the CRLF of the DATA line
        long received = 0;
        while (received < count)
        {
            int n = _io.ReadRaw(buffer, 0, (int)Math.Min(buffer.Length, count - received));
            if (n == 0)
            {
                _closed = true;
                return;
            }

            received += n;
            bool end = false;
            for (int i = 0; i < n && !end; i++)
            {
                tail = (tail << 8) | buffer[i];
                end = (tail & 0xFFFFFFFF) == 0x0A2E0D0A || (tail & 0xFFFFFF) == 0x0A2E0A;
            }

            if (end)
            {
                break;
            }
        }

        AbortConnection();
    }
}
