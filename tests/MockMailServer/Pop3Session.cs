using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;

namespace MockMail;

/// <summary>The POP3 protocol (RFC 1939, 2449, 2595, 5034, 3206) for one connection, on its own background thread.</summary>
internal sealed class Pop3Session : SessionBase
{
    /// <summary>Message content is written out whenever this much is queued.</summary>
    private const int FlushThreshold = 65536;

    private readonly Pop3SessionRecord _rec;
    private readonly Pop3Options _opts;
    private State _state = State.Authorization;
    private bool _refused;
    private string? _timestamp;
    private string? _pendingUser;
    private string? _user;
    private Pop3MailboxMessage[] _snapshot = Array.Empty<Pop3MailboxMessage>();
    private bool[] _deleted = Array.Empty<bool>();
    private Pending _pending;
    private int _midRetrBytes = -1;

    // One pair per session, not per RETR/TOP: 192 KB a message (the larger on the large object
    // heap) made the mock's garbage collections, in the benchmark's own process, cost more than serving.
    private readonly byte[] _content = new byte[FlushThreshold];
    private readonly byte[] _stuffed = new byte[FlushThreshold * 2 + 8];

    internal Pop3Session(MockServer server, Socket socket, Pop3SessionRecord record, bool implicitTls, int generation, CancellationToken stopToken)
        : base(server, socket, record, implicitTls, generation, stopToken)
    {
        _rec = record;
        _opts = server.SnapshotPop3Options();
    }

    private enum State
    {
        Authorization,
        Transaction,
    }

    private enum Pending
    {
        None,
        Stls,
        Quit,
    }

    /// <summary>RFC 2449: a command line is at most 255 octets including CRLF (RFC 5034: AUTH included).</summary>
    protected override int MaxCommandLine => 253;

    protected override string LineTooLongReply => "-ERR Line too long";

    /// <summary>RFC 1939: at the autologout timeout the server closes without a response and without UPDATE
    /// (so there is no OnIdleTimeout here).</summary>
    protected override int IdleTimeoutSeconds => _opts.IdleTimeoutSeconds;

    protected override string SaslChallengePrefix => "+ ";

    // ---------------------------------------------------------------- plumbing

    private static bool IsOk(string reply) => reply.StartsWith("+OK", StringComparison.OrdinalIgnoreCase);

    /// <summary>A dropped or finished session gives up its mailbox lock; nothing is committed here.</summary>
    protected override void BeforeEnd() => _server.UnlockMailboxes(this);

    /// <summary>"-ERR [CODE] text" with RESP-CODES on, else "-ERR text".</summary>
    private string Err(string code, string text) => _opts.RespCodes ? "-ERR [" + code + "] " + text : "-ERR " + text;

    private static string ExtractTimestamp(string greeting)
    {
        int start = greeting.IndexOf('<');
        while (start >= 0)
        {
            int end = greeting.IndexOf('>', start + 1);
            if (end < 0)
            {
                break;
            }

            string candidate = greeting.Substring(start, end - start + 1);
            if (candidate.IndexOf('@') > 0 && candidate.IndexOf('<', 1) < 0)
            {
                return candidate;
            }

            start = greeting.IndexOf('<', start + 1);
        }

        return string.Empty;
    }

    // ---------------------------------------------------------------- greeting and dispatch

    protected override void Greet()
    {
        var rule = _server.MatchPop3Rule("CONNECT", _implicitTls ? "implicit-tls" : "plain");
        if (rule != null && rule.Action == Pop3RuleAction.SendRaw)
        {
            string raw = rule.Reply ?? string.Empty;
            _io.Write(raw);
            _refused = !IsOk(raw);
            _timestamp = ExtractTimestamp(raw);
            return;
        }

        if (!ApplyRule(rule, false, out var overrideReply, out var closeAfter, out _midRetrBytes))
        {
            return;
        }

        string reply = overrideReply ?? BuildGreeting();
        _refused = !IsOk(reply);
        _timestamp = ExtractTimestamp(reply.Split('\n')[0]);
        Send(reply);
        if (closeAfter)
        {
            CloseGraceful(byServer: true);
        }
    }

    private string BuildGreeting()
    {
        var text = new StringBuilder("+OK");
        if (_opts.Greeting.Length > 0)
        {
            text.Append(' ').Append(_opts.Greeting);
        }

        if (_opts.Apop)
        {
            text.Append(' ').Append(_server.NewApopTimestamp());
        }

        return text.ToString();
    }

    protected override void HandleCommand(string text)
    {
        string line = text.TrimStart();
        int space = line.IndexOf(' ');
        string verb = (space < 0 ? line.TrimEnd() : line.Substring(0, space)).ToUpperInvariant();
        string rawArg = space < 0 ? string.Empty : line.Substring(space + 1);

        // PASS keeps its argument verbatim (a password may contain or end with spaces).
        string arg = verb == "PASS" ? rawArg : rawArg.Trim();

        var rule = _server.MatchPop3Rule(verb, arg);
        if (!ApplyRule(rule, verb == "RETR" || verb == "TOP", out var overrideReply, out var closeAfter, out _midRetrBytes))
        {
            return;
        }

        _pending = Pending.None;
        if (_refused && overrideReply == null && verb != "QUIT")
        {
            Send("-ERR No POP3 service here");
        }
        else
        {
            Dispatch(verb, arg, overrideReply);
        }

        if (_midRetrBytes >= 0)
        {
            // CloseMidRetr on a RETR/TOP that did not send a message (e.g. -ERR): flush, then reset.
            _midRetrBytes = -1;
            ResetConnection();
            return;
        }

        if (_closed)
        {
            return;
        }

        if (closeAfter)
        {
            CloseGraceful(byServer: true);
            return;
        }

        switch (_pending)
        {
            case Pending.Stls:
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
            case "CAPA":
                DoCapa(overrideReply);
                return;
            case "QUIT":
                DoQuit(overrideReply);
                return;
        }

        bool authorizationCommand = verb is "USER" or "PASS" or "APOP" or "AUTH" or "STLS";
        bool transactionCommand = verb is "STAT" or "LIST" or "UIDL" or "RETR" or "TOP" or "DELE" or "NOOP" or "RSET";
        if (!authorizationCommand && !transactionCommand)
        {
            Send(overrideReply ?? "-ERR Unknown command");
            return;
        }

        if (authorizationCommand != (_state == State.Authorization))
        {
            Send(overrideReply ?? "-ERR Command not valid in this state");
            return;
        }

        switch (verb)
        {
            case "USER":
                DoUser(arg, overrideReply);
                break;
            case "PASS":
                DoPass(arg, overrideReply);
                break;
            case "APOP":
                DoApop(arg, overrideReply);
                break;
            case "AUTH":
                DoAuth(arg, overrideReply);
                break;
            case "STLS":
                DoStls(arg, overrideReply);
                break;
            case "STAT":
                Send(overrideReply ?? "+OK " + Count().ToString(CultureInfo.InvariantCulture) + " " + Octets().ToString(CultureInfo.InvariantCulture));
                break;
            case "LIST":
                DoList(arg, overrideReply, uidl: false);
                break;
            case "UIDL":
                DoList(arg, overrideReply, uidl: true);
                break;
            case "RETR":
                DoRetr(arg, overrideReply);
                break;
            case "TOP":
                DoTop(arg, overrideReply);
                break;
            case "DELE":
                DoDele(arg, overrideReply);
                break;
            case "NOOP":
                Send(overrideReply ?? "+OK");
                break;
            case "RSET":
                DoRset(overrideReply);
                break;
        }
    }

    // ---------------------------------------------------------------- CAPA / STLS / QUIT

    private void DoCapa(string? overrideReply)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            return;
        }

        if (Disabled(_opts.Capa))
        {
            return;
        }

        // RFC 2449: capabilities of the AUTHORIZATION state are announced in both states.
        _io.WriteLine("+OK Capability list follows");
        foreach (string line in Enabled(
            (_opts.Top, "TOP"),
            (_opts.Uidl, "UIDL"),
            (_opts.Pipelining, "PIPELINING"),
            (_opts.Stls && !_tls, "STLS"),
            (_opts.RespCodes, "RESP-CODES"),
            (_opts.RespCodes, "AUTH-RESP-CODE"),
            (_opts.User, "USER"),
            (_opts.SaslMechanisms.Length > 0, "SASL " + string.Join(" ", _opts.SaslMechanisms)),
            (_opts.Implementation.Length > 0, "IMPLEMENTATION " + _opts.Implementation)))
        {
            _io.WriteLine(line);
        }

        foreach (string line in _opts.ExtraCapabilities)
        {
            _io.WriteLine(line);
        }

        _io.WriteLine(".");
    }

    private void DoStls(string arg, string? overrideReply)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            if (IsOk(overrideReply) && !_tls)
            {
                _pending = Pending.Stls;
            }

            return;
        }

        if (Disabled(_opts.Stls))
        {
            return;
        }

        if (_tls)
        {
            Send("-ERR Command not permitted when TLS active");
        }
        else if (arg.Length > 0)
        {
            Send("-ERR Syntax: STLS takes no arguments");
        }
        else if (_opts.StlsFails)
        {
            Send(Err("SYS/TEMP", "TLS not available"));
        }
        else
        {
            Send("+OK Begin TLS negotiation");
            _pending = Pending.Stls;
        }
    }

    private void StartTls()
    {
        // The client waits for the +OK and then starts the handshake: one round trip.
        _io.FlushForWait();

        // RFC 2595: the client must discard what it learned (CAPA again); a pending USER is forgotten.
        _pendingUser = null;
        Handshake();
    }

    private void DoQuit(string? overrideReply)
    {
        _rec.QuitReceived = true;
        bool ok = overrideReply == null || IsOk(overrideReply);
        if (ok && _state == State.Transaction)
        {
            Commit();
        }

        if (overrideReply != null)
        {
            Send(overrideReply);
        }
        else if (_state == State.Transaction)
        {
            string[] removed = _rec.DeletedUids;
            Send("+OK MockMail POP3 server signing off (" + removed.Length.ToString(CultureInfo.InvariantCulture) + " messages deleted)");
        }
        else
        {
            Send("+OK MockMail POP3 server signing off");
        }

        if (ok)
        {
            _pending = Pending.Quit;
        }
    }

    /// <summary>UPDATE state: removes the marked messages (by UID) from the real mailbox.</summary>
    private void Commit()
    {
        var marked = MarkedUids();
        string[] removed = _server.CommitDeletions(_user ?? string.Empty, marked, _generation);
        _rec.SetDeleted(removed);
        _rec.Committed = true;

        // RFC 1939: after UPDATE the server releases its resources, before the +OK reaches the client.
        _server.UnlockMailboxes(this);
    }

    // ---------------------------------------------------------------- AUTHORIZATION

    /// <summary>A command switched off in the options answers as an unknown one. Returns true (reply sent) if
    /// <paramref name="enabled"/> is false.</summary>
    private bool Disabled(bool enabled)
    {
        if (enabled)
        {
            return false;
        }

        Send("-ERR Unknown command");
        return true;
    }

    /// <summary>AuthRequiresTls: refuses USER/PASS/APOP/AUTH before TLS. Returns true if refused.</summary>
    private bool RefusedWithoutTls()
    {
        if (_opts.AuthRequiresTls && !_tls)
        {
            Send(Err("AUTH", "Plaintext authentication disallowed on non-secure connections"));
            return true;
        }

        return false;
    }

    private void DoUser(string arg, string? overrideReply)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            if (IsOk(overrideReply))
            {
                _pendingUser = arg;
            }

            return;
        }

        if (Disabled(_opts.User) || RefusedWithoutTls())
        {
            return;
        }

        if (arg.Length == 0)
        {
            Send("-ERR Syntax: USER name");
            return;
        }

        _pendingUser = arg;
        Send("+OK Send your password");
    }

    private void DoPass(string arg, string? overrideReply)
    {
        _rec.AuthAttempts++;
        string? user = _pendingUser;
        if (overrideReply != null)
        {
            Send(overrideReply);
            if (IsOk(overrideReply) && user != null)
            {
                _pendingUser = null;
                Login(user, "USER", forced: true);
            }

            return;
        }

        if (Disabled(_opts.User) || RefusedWithoutTls())
        {
            return;
        }

        if (user == null)
        {
            Send("-ERR No user name given, send USER first");
            return;
        }

        _pendingUser = null;
        if (_server.CheckPassword(user, arg))
        {
            Login(user, "USER", forced: false);
        }
        else
        {
            Send(Err("AUTH", "Invalid credentials"));
        }
    }

    private void DoApop(string arg, string? overrideReply)
    {
        _rec.AuthAttempts++;
        _pendingUser = null;
        string[] parts = arg.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);
        if (overrideReply != null)
        {
            Send(overrideReply);
            if (IsOk(overrideReply) && parts.Length == 2)
            {
                Login(parts[0], "APOP", forced: true);
            }

            return;
        }

        if (Disabled(_opts.Apop) || RefusedWithoutTls())
        {
            return;
        }

        if (string.IsNullOrEmpty(_timestamp))
        {
            Send("-ERR APOP not available (no timestamp in the greeting)");
            return;
        }

        if (parts.Length != 2)
        {
            Send("-ERR Syntax: APOP name digest");
            return;
        }

        string? password = _server.GetPassword(parts[0]);
        if (password != null)
        {
            byte[] hash = MD5.HashData(Encoding.UTF8.GetBytes(_timestamp + password));
            string expected = Convert.ToHexString(hash);
            if (string.Equals(expected, parts[1], StringComparison.OrdinalIgnoreCase))
            {
                Login(parts[0], "APOP", forced: false);
                return;
            }
        }

        Send(Err("AUTH", "Invalid credentials"));
    }

    private void DoAuth(string arg, string? overrideReply)
    {
        _rec.AuthAttempts++;
        _pendingUser = null;
        if (overrideReply != null)
        {
            Send(overrideReply);
            return;
        }

        string[] mechanisms = _opts.SaslMechanisms;
        if (Disabled(mechanisms.Length > 0))
        {
            return;
        }

        if (arg.Length == 0)
        {
            // Pre-RFC 5034 form: AUTH without arguments lists the mechanisms.
            _io.WriteLine("+OK Supported mechanisms follow");
            foreach (string m in mechanisms)
            {
                _io.WriteLine(m);
            }

            _io.WriteLine(".");
            return;
        }

        if (RefusedWithoutTls())
        {
            return;
        }

        if (!TryParseAuth(arg, out string mechanism, out string? initial))
        {
            Send("-ERR Syntax: AUTH mechanism [initial-response]");
            return;
        }

        if (!Offers(mechanisms, mechanism) || !Authenticate(mechanism, initial))
        {
            Send("-ERR Unsupported authentication mechanism");
        }
    }

    protected override void OnAuthenticated(string user, string mechanism)
    {
        if (_opts.ExchangeAuthRefusal)
        {
            Send(ExchangeRefusal);
            return;
        }

        Login(user, mechanism, forced: false);
    }

    protected override bool Xoauth2ErrorChallenge => !_opts.ExchangeAuthRefusal;

    // Exchange Online's POP3 refusal of XOAUTH2, as Microsoft's "Authenticate an IMAP, POP or SMTP
    // connection using OAuth" shows it.
    private const string ExchangeRefusal = "-ERR Authentication failure: unknown user name or bad password.";

    protected override string SaslFailureReply(SaslFailure failure) => failure switch
    {
        SaslFailure.BadCredentials or SaslFailure.TokenRejected when _opts.ExchangeAuthRefusal => ExchangeRefusal,
        SaslFailure.CannotDecode => "-ERR Invalid base64 data",
        SaslFailure.MalformedPlain => "-ERR Malformed PLAIN response",
        SaslFailure.LineTooLong => "-ERR Authentication exchange line is too long",
        SaslFailure.Cancelled => "-ERR Authentication cancelled",
        _ => Err("AUTH", "Authentication failed"),
    };

    /// <summary>Enters the TRANSACTION state unless another session holds the mailbox. A forced login (a rule
    /// answered +OK) has already replied and ignores the lock.</summary>
    private void Login(string user, string mechanism, bool forced)
    {
        if (!_server.TryLockMailbox(user, this, _opts.LockMailbox && !forced, _generation))
        {
            Send(Err("IN-USE", "Mailbox is locked by another session"));
            return;
        }

        _user = user;
        _rec.User = user;
        _rec.AuthMechanism = mechanism;
        _snapshot = _server.SnapshotMailbox(user, _generation);
        _deleted = new bool[_snapshot.Length];
        _state = State.Transaction;
        if (!forced)
        {
            Send("+OK Logged in, " + MaildropSize());
        }
    }

    // ---------------------------------------------------------------- TRANSACTION

    private int Count()
    {
        int n = 0;
        for (int i = 0; i < _snapshot.Length; i++)
        {
            if (!_deleted[i])
            {
                n++;
            }
        }

        return n;
    }

    private long Octets()
    {
        long total = 0;
        for (int i = 0; i < _snapshot.Length; i++)
        {
            if (!_deleted[i])
            {
                total += _snapshot[i].Size;
            }
        }

        return total;
    }

    /// <summary>"n messages (m octets)", not counting messages marked for deletion.</summary>
    private string MaildropSize() =>
        Count().ToString(CultureInfo.InvariantCulture) + " messages (" + Octets().ToString(CultureInfo.InvariantCulture) + " octets)";

    private List<string> MarkedUids()
    {
        var uids = new List<string>();
        for (int i = 0; i < _snapshot.Length; i++)
        {
            if (_deleted[i])
            {
                uids.Add(_snapshot[i].Uid);
            }
        }

        return uids;
    }

    /// <summary>Parses a message number; sends -ERR and returns -1 if it is invalid, unknown or (unless
    /// <paramref name="forDele"/>, which reports that separately) deleted. Returns the 0-based index.</summary>
    private int MessageIndex(string arg, bool forDele, bool sendErrors = true)
    {
        if (!int.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
        {
            if (sendErrors)
            {
                Send("-ERR Invalid message number");
            }

            return -1;
        }

        if (_opts.RenumberOnDele)
        {
            number = RenumberedIndex(number) + 1;
        }

        if (number < 1 || number > _snapshot.Length)
        {
            if (sendErrors)
            {
                Send("-ERR No such message");
            }

            return -1;
        }

        if (_deleted[number - 1])
        {
            if (sendErrors)
            {
                Send(forDele ? "-ERR Message " + number.ToString(CultureInfo.InvariantCulture) + " already deleted" : "-ERR No such message");
            }

            return -1;
        }

        return number - 1;
    }

    /// <summary>With RenumberOnDele: the 0-based index of the <paramref name="number"/>-th message
    /// not marked for deletion, or -2 when there is none.</summary>
    private int RenumberedIndex(int number)
    {
        var seen = 0;
        for (int i = 0; i < _snapshot.Length; i++)
        {
            if (!_deleted[i] && ++seen == number)
            {
                return i;
            }
        }

        return -2;
    }

    private void DoList(string arg, string? overrideReply, bool uidl)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            return;
        }

        if (uidl && Disabled(_opts.Uidl))
        {
            return;
        }

        string Item(int i) => (i + 1).ToString(CultureInfo.InvariantCulture) + " "
            + (uidl ? _snapshot[i].Uid : _snapshot[i].Size.ToString(CultureInfo.InvariantCulture));

        if (arg.Length > 0)
        {
            int index = MessageIndex(arg, forDele: false);
            if (index >= 0)
            {
                _io.WriteLine("+OK " + Item(index));
            }

            return;
        }

        _io.WriteLine(uidl
            ? "+OK Unique-ID listing follows"
            : "+OK " + MaildropSize());
        for (int i = 0; i < _snapshot.Length; i++)
        {
            if (!_deleted[i])
            {
                _io.WriteLine(Item(i));
            }
        }

        _io.WriteLine(".");
    }

    private void DoRetr(string arg, string? overrideReply)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            return;
        }

        int index = MessageIndex(arg, forDele: false);
        if (index >= 0)
        {
            var message = _snapshot[index];
            SendMessage(message, -1, "+OK " + message.Size.ToString(CultureInfo.InvariantCulture) + " octets");
        }
    }

    private void DoTop(string arg, string? overrideReply)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            return;
        }

        if (Disabled(_opts.Top))
        {
            return;
        }

        string[] parts = arg.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int lines))
        {
            Send("-ERR Syntax: TOP message lines");
            return;
        }

        int index = MessageIndex(parts[0], forDele: false);
        if (index >= 0)
        {
            SendMessage(_snapshot[index], lines, "+OK Top of message follows");
        }
    }

    private void DoDele(string arg, string? overrideReply)
    {
        if (overrideReply != null)
        {
            Send(overrideReply);
            if (IsOk(overrideReply))
            {
                int i = MessageIndex(arg, forDele: true, sendErrors: false);
                if (i >= 0)
                {
                    Mark(i, true);
                }
            }

            return;
        }

        int index = MessageIndex(arg, forDele: true);
        if (index >= 0)
        {
            Mark(index, true);
            Send("+OK Message " + (index + 1).ToString(CultureInfo.InvariantCulture) + " deleted");
        }
    }

    private void DoRset(string? overrideReply)
    {
        if (overrideReply == null || IsOk(overrideReply))
        {
            for (int i = 0; i < _deleted.Length; i++)
            {
                _deleted[i] = false;
            }

            _rec.SetMarked(Array.Empty<string>());
        }

        Send(overrideReply ?? "+OK Maildrop has " + MaildropSize());
    }

    private void Mark(int index, bool deleted)
    {
        _deleted[index] = deleted;
        _rec.SetMarked(MarkedUids().ToArray());
    }

    /// <summary>
    /// Sends <paramref name="status"/> and the message as a dot-stuffed multi-line response, streamed in
    /// chunks (a file-backed message is never loaded whole). <paramref name="topLines"/> &gt;= 0 sends only the
    /// header, the blank line and that many body lines (TOP). With a CloseMidRetr rule active, only that many
    /// content bytes are sent and the connection is reset instead of finishing the response.
    /// </summary>
    private void SendMessage(Pop3MailboxMessage message, int topLines, string status)
    {
        Stream source;
        try
        {
            source = message.Data != null
                ? new MemoryStream(message.Data, writable: false)
                : new FileStream(message.FilePath!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Send(Err("SYS/TEMP", "Message content is not available"));
            return;
        }

        int limit = _midRetrBytes;
        _midRetrBytes = -1;
        using (source)
        {
            _io.WriteLine(status);
            var writer = new StuffingWriter(_io, _stuffed, topLines, limit);
            int n;
            while (!writer.Done && (n = source.Read(_content, 0, _content.Length)) > 0)
            {
                writer.Write(_content, n);
            }

            if (!writer.Done)
            {
                writer.Finish();
            }

            if (writer.LimitReached || limit >= 0)
            {
                // CloseMidRetr: what was sent goes out, then the connection is reset (no final dot).
                ResetConnection();
            }
        }
    }

    /// <summary>Dot-stuffs message bytes into the line stream (TOP line limit, CloseMidRetr byte limit),
    /// flushing every <see cref="FlushThreshold"/> bytes.</summary>
    private sealed class StuffingWriter
    {
        private readonly LineStream _io;
        private readonly int _byteLimit;
        private readonly byte[] _out;
        private int _outCount;
        private long _sent;
        private bool _lineStart = true;
        private int _lineLength;
        private byte _previous;
        private bool _inHeader;
        private int _bodyLinesLeft;

        /// <param name="output">At least FlushThreshold * 2 + 8 bytes, reused by the session.</param>
        public StuffingWriter(LineStream io, byte[] output, int topLines, int byteLimit)
        {
            _io = io;
            _out = output;
            _byteLimit = byteLimit;
            _inHeader = topLines >= 0;
            _bodyLinesLeft = topLines;
        }

        /// <summary>No more content is wanted (TOP limit reached or byte limit reached).</summary>
        public bool Done { get; private set; }

        public bool LimitReached { get; private set; }

        public void Write(byte[] buffer, int count)
        {
            for (int i = 0; i < count && !Done; i++)
            {
                byte b = buffer[i];
                if (_lineStart && b == (byte)'.')
                {
                    _out[_outCount++] = (byte)'.';
                }

                _out[_outCount++] = b;
                if (b == (byte)'\n')
                {
                    bool blank = _lineLength == 0 || (_lineLength == 1 && _previous == (byte)'\r');
                    _lineStart = true;
                    _lineLength = 0;
                    if (_inHeader)
                    {
                        if (blank)
                        {
                            _inHeader = false;
                            Done = _bodyLinesLeft == 0;
                        }
                    }
                    else if (_bodyLinesLeft > 0 && --_bodyLinesLeft == 0)
                    {
                        Done = true;
                    }
                }
                else
                {
                    _lineStart = false;
                    _lineLength++;
                }

                _previous = b;
                if (_outCount >= FlushThreshold)
                {
                    Emit();
                }
            }

            Emit();
            if (Done && !LimitReached)
            {
                Finish();
            }
        }

        /// <summary>Ends the response: CRLF if the last line lacks one, then the terminating dot.</summary>
        public void Finish()
        {
            if (!_lineStart)
            {
                _out[_outCount++] = (byte)'\r';
                _out[_outCount++] = (byte)'\n';
                _lineStart = true;
            }

            Emit();
            Done = true;
            if (!LimitReached && _byteLimit < 0)
            {
                _io.WriteLine(".");
            }
        }

        private void Emit()
        {
            int count = _outCount;
            _outCount = 0;
            if (count == 0 || LimitReached)
            {
                return;
            }

            if (_byteLimit >= 0 && _sent + count >= _byteLimit)
            {
                count = (int)(_byteLimit - _sent);
                LimitReached = true;
                Done = true;
            }

            _io.Write(_out, 0, count);
            _sent += count;
            if (_io.PendingOutputLength >= FlushThreshold)
            {
                _io.Flush();
            }
        }
    }
}
