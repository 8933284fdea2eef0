using System;
using System.Buffers.Text;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace MockMail;

/// <summary>The POP3 side: listeners, mailboxes (one per user name), locks, records and rules.</summary>
public sealed partial class MockServer
{
    /// <summary>Messages larger than this are generated into (or copied to) a temporary file.</summary>
    private const long InMemoryLimit = 16L * 1024 * 1024;
    private const int CopyBufferSize = 65536;

    private readonly List<Pop3SessionRecord> _pop3Sessions = new();
    private readonly List<Pop3Rule> _pop3Rules = new();
    private readonly Dictionary<string, List<Pop3MailboxMessage>> _mailboxes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Pop3Session>> _mailboxHolders = new(StringComparer.Ordinal);
    private readonly List<string> _tempFiles = new();
    private int _pop3ConnectionCount;
    private int _nextPop3SessionId;
    private long _uidCounter;
    private long _lastApopTicks;
    private bool _deliverToMailboxes = true;

    private enum Protocol
    {
        Smtp,
        Pop3,
    }

    /// <summary>POP3 behaviour, read by each new connection at its start. Reset() restores the defaults.</summary>
    public Pop3Options Pop3 { get; } = new();

    /// <summary>Plain POP3 port (STLS capable); 0 before Start.</summary>
    public int Pop3Port { get; private set; }

    /// <summary>Implicit-TLS POP3 port; 0 before Start.</summary>
    public int Pop3sPort { get; private set; }

    /// <summary>Snapshot of all POP3 sessions since Start/Reset, in connection order.</summary>
    public Pop3SessionRecord[] Pop3Sessions => Snapshot(_pop3Sessions);

    /// <summary>POP3 connections accepted (both listeners) since Start/Reset.</summary>
    public int Pop3ConnectionCount => Locked(() => _pop3ConnectionCount);

    /// <summary>Snapshot of the POP3 rules, in matching order.</summary>
    public Pop3Rule[] Pop3Rules => Snapshot(_pop3Rules);

    /// <summary>Default true: every SMTP message accepted (2xx after the final dot) is also appended to the
    /// POP3 mailbox of each accepted recipient whose whole address or local part is a key of
    /// <see cref="Users"/> (once per user and message). Reset() restores true.</summary>
    public bool DeliverToMailboxes
    {
        get => Locked(() => _deliverToMailboxes);
        set
        {
            lock (Sync)
            {
                _deliverToMailboxes = value;
            }
        }
    }

    // ---- mailboxes ----

    /// <summary>Appends a message (bare LF becomes CRLF, text is UTF-8) to the user's mailbox; returns its new UID.</summary>
    public string AddMessage(string user, string rawMessage)
    {
        if (rawMessage == null)
        {
            throw new ArgumentNullException(nameof(rawMessage));
        }

        return AddMessage(user, Encoding.UTF8.GetBytes(rawMessage));
    }

    /// <summary>Appends a message (bare LF becomes CRLF) to the user's mailbox; returns its new UID.</summary>
    public string AddMessage(string user, byte[] rawMessage) => AddMessage(user, null!, rawMessage);

    /// <summary>Appends a message (bare LF becomes CRLF) with an explicit UID (1-70 printable ASCII
    /// characters, unique in the mailbox); null = generate one. Returns the UID.</summary>
    public string AddMessage(string user, string uid, byte[] rawMessage)
    {
        CheckUser(user);
        if (rawMessage == null)
        {
            throw new ArgumentNullException(nameof(rawMessage));
        }

        byte[] data = NormalizeLineEnds(rawMessage);
        return Append(user, uid, data.Length, data, null);
    }

    /// <summary>Appends the message in a file (e.g. .eml; bare LF becomes CRLF). A file over 16 MB is copied
    /// into a temporary file and served from there. Returns the new UID.</summary>
    public string AddMessageFile(string user, string emlPath)
    {
        CheckUser(user);
        var info = new FileInfo(emlPath);
        if (!info.Exists)
        {
            throw new FileNotFoundException("Message file not found.", emlPath);
        }

        if (info.Length <= InMemoryLimit)
        {
            return AddMessage(user, File.ReadAllBytes(emlPath));
        }

        string path = NewTempFile();
        try
        {
            using (var input = new FileStream(emlPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, CopyBufferSize, FileOptions.SequentialScan))
            using (var output = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, CopyBufferSize))
            {
                CopyNormalized(input, output);
            }

            return Append(user, null, new FileInfo(path).Length, null, path);
        }
        catch
        {
            DeleteFiles(new[] { path });
            throw;
        }
    }

    /// <summary>Appends <paramref name="count"/> small messages ("Test message n", from sender&lt;n&gt;@example.com,
    /// to &lt;user&gt;@example.com, Message-ID &lt;n.mock@example.com&gt;, n = 1..count); returns their UIDs.</summary>
    public string[] AddTestMessages(string user, int count)
    {
        CheckUser(user);
        if (count < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        var uids = new string[count];
        DateTimeOffset baseDate = new(2024, 1, 15, 9, 0, 0, TimeSpan.Zero);
        for (int i = 0; i < count; i++)
        {
            int n = i + 1;
            string date = baseDate.AddMinutes(i).ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture);
            string text =
                "From: Sender " + n + " <sender" + n + "@example.com>\r\n" +
                "To: <" + user + "@example.com>\r\n" +
                "Subject: Test message " + n + "\r\n" +
                "Date: " + date + "\r\n" +
                "Message-ID: <" + n + ".mock@example.com>\r\n" +
                "MIME-Version: 1.0\r\n" +
                "Content-Type: text/plain; charset=utf-8\r\n" +
                "Content-Transfer-Encoding: 7bit\r\n" +
                "\r\n" +
                "This is test message " + n + ".\r\n" +
                "It has a few lines of text.\r\n" +
                "Regards,\r\n" +
                "The mock\r\n";
            uids[i] = AddMessage(user, text);
        }

        return uids;
    }

    /// <summary>Appends a multipart message with one base64 attachment (deterministic pseudo-random bytes) so
    /// that the whole message is about <paramref name="approximateBytes"/> octets. Over 16 MB it is written to
    /// a temporary file (never held in memory) that Reset/Stop delete. Returns the new UID.</summary>
    public string AddLargeMessage(string user, long approximateBytes)
    {
        CheckUser(user);
        if (approximateBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(approximateBytes));
        }

        long serial = Interlocked.Increment(ref _uidCounter);
        if (approximateBytes <= InMemoryLimit)
        {
            using var buffer = new MemoryStream((int)approximateBytes + 2048);
            WriteLargeMessage(buffer, user, approximateBytes, serial);
            byte[] data = buffer.ToArray();
            return Append(user, null, data.Length, data, null);
        }

        string path = NewTempFile();
        try
        {
            using (var output = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, CopyBufferSize))
            {
                WriteLargeMessage(output, user, approximateBytes, serial);
            }

            return Append(user, null, new FileInfo(path).Length, null, path);
        }
        catch
        {
            DeleteFiles(new[] { path });
            throw;
        }
    }

    /// <summary>The user's mailbox as committed now (not a session's view), in order; empty if none.</summary>
    public Pop3MailboxMessage[] GetMailbox(string user)
    {
        lock (Sync)
        {
            return user != null && _mailboxes.TryGetValue(user, out var list) ? list.ToArray() : Array.Empty<Pop3MailboxMessage>();
        }
    }

    /// <summary>Removes a message at once, as if another client had deleted it (a session that logged in
    /// before still lists it). Unknown UIDs are ignored.</summary>
    public void RemoveMessage(string user, string uid)
    {
        lock (Sync)
        {
            if (user != null && _mailboxes.TryGetValue(user, out var list))
            {
                list.RemoveAll(m => m.Uid == uid);
            }
        }
    }

    // ---- POP3 rules ----

    public Pop3Rule AddPop3Rule(Pop3Rule rule) =>
        AddRule(_pop3Rules, rule, "Pop3Rule.Command is required (a POP3 command, CONNECT or *).");

    public bool RemovePop3Rule(Pop3Rule rule)
    {
        lock (Sync)
        {
            return _pop3Rules.Remove(rule);
        }
    }

    public void ClearPop3Rules()
    {
        lock (Sync)
        {
            _pop3Rules.Clear();
        }
    }

    /// <summary>Answer <paramref name="command"/> with <paramref name="reply"/> (whole response, all lines);
    /// times -1 = always. A reply starting with +OK still applies the command's effect (see README).</summary>
    public Pop3Rule Pop3ReplyTo(string command, string? argumentContains, string reply, int times) =>
        AddPop3Rule(new Pop3Rule { Command = command, ArgumentContains = argumentContains, Action = Pop3RuleAction.Reply, Reply = reply, Times = times });

    public Pop3Rule Pop3ReplyTo(string command, string? argumentContains, string reply) => Pop3ReplyTo(command, argumentContains, reply, -1);

    public Pop3Rule Pop3ReplyTo(string command, string reply) => Pop3ReplyTo(command, null, reply, -1);

    /// <summary>Close the TCP connection instead of replying.</summary>
    public Pop3Rule Pop3CloseOn(string command, string? argumentContains, int times) =>
        AddPop3Rule(new Pop3Rule { Command = command, ArgumentContains = argumentContains, Action = Pop3RuleAction.Close, Times = times });

    public Pop3Rule Pop3CloseOn(string command, string? argumentContains) => Pop3CloseOn(command, argumentContains, -1);

    public Pop3Rule Pop3CloseOn(string command) => Pop3CloseOn(command, null, -1);

    /// <summary>Reply (null or empty = the normal response), then close.</summary>
    public Pop3Rule Pop3ReplyThenClose(string command, string? argumentContains, string? reply, int times) =>
        AddPop3Rule(new Pop3Rule { Command = command, ArgumentContains = argumentContains, Action = Pop3RuleAction.ReplyThenClose, Reply = reply, Times = times });

    /// <summary>Read the command and never answer; the connection stays open until the client closes or Stop().</summary>
    public Pop3Rule Pop3NeverReply(string command, int times) =>
        AddPop3Rule(new Pop3Rule { Command = command, Action = Pop3RuleAction.NeverReply, Times = times });

    public Pop3Rule Pop3NeverReply(string command) => Pop3NeverReply(command, -1);

    /// <summary>Wait, then handle normally (the wait ends early on Stop/DisconnectAll).</summary>
    public Pop3Rule Pop3Delay(string command, int milliseconds, int times) =>
        AddPop3Rule(new Pop3Rule { Command = command, Action = Pop3RuleAction.Delay, DelayMs = milliseconds, Times = times });

    public Pop3Rule Pop3Delay(string command, int milliseconds) => Pop3Delay(command, milliseconds, -1);

    /// <summary>On RETR: send +OK and <paramref name="afterBytes"/> bytes of the message, then reset the connection.
    /// For TOP use AddPop3Rule with Command = "TOP" and Action = CloseMidRetr.</summary>
    public Pop3Rule Pop3CloseMidRetr(string? argumentContains, int afterBytes, int times) =>
        AddPop3Rule(new Pop3Rule { Command = "RETR", ArgumentContains = argumentContains, Action = Pop3RuleAction.CloseMidRetr, AfterBytes = afterBytes, Times = times });

    public Pop3Rule Pop3CloseMidRetr(string? argumentContains, int afterBytes) => Pop3CloseMidRetr(argumentContains, afterBytes, -1);

    /// <summary>Instead of the response, write <paramref name="raw"/> as-is (UTF-8, no CRLF added), then keep reading.</summary>
    public Pop3Rule Pop3SendRaw(string command, string raw, int times) =>
        AddPop3Rule(new Pop3Rule { Command = command, Action = Pop3RuleAction.SendRaw, Reply = raw, Times = times });

    public Pop3Rule Pop3SendRaw(string command, string raw) => Pop3SendRaw(command, raw, -1);

    /// <summary>Send the normal response (for RETR/TOP the status line and the message) one byte at a time,
    /// <paramref name="delayMs"/> apart (0 = 1000), then go on normally (the waits end early on
    /// Stop/DisconnectAll). "CONNECT" trickles the greeting.</summary>
    public Pop3Rule Pop3Trickle(string command, int delayMs, int times) =>
        AddPop3Rule(new Pop3Rule { Command = command, Action = Pop3RuleAction.Trickle, DelayMs = delayMs, Times = times });

    // ---- internals used by the POP3 sessions ----

    internal Pop3Rule? MatchPop3Rule(string command, string argument) => Locked(() => RuleMatcher.Match(_pop3Rules, command, argument));

    internal Pop3Options SnapshotPop3Options() => Locked(Pop3.Clone);

    internal string? GetPassword(string user) => Locked(() => Users.TryGetValue(user, out var password) ? password : null);

    /// <summary>A unique APOP timestamp "&lt;pid.ticks@mock.test&gt;".</summary>
    internal string NewApopTimestamp()
    {
        long ticks;
        lock (Sync)
        {
            ticks = Math.Max(DateTime.UtcNow.Ticks, _lastApopTicks + 1);
            _lastApopTicks = ticks;
        }

        return "<" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "." + ticks.ToString(CultureInfo.InvariantCulture) + "@mock.test>";
    }

    /// <summary>Registers <paramref name="session"/> as a holder of the user's mailbox. With
    /// <paramref name="exclusive"/>, fails (false) if another session of the current generation holds it.</summary>
    internal bool TryLockMailbox(string user, Pop3Session session, bool exclusive, int generation)
    {
        lock (Sync)
        {
            if (generation != _generation)
            {
                return true; // a session from before Reset: it takes part in no locking
            }

            if (!_mailboxHolders.TryGetValue(user, out var holders))
            {
                holders = new List<Pop3Session>();
                _mailboxHolders[user] = holders;
            }

            if (exclusive && holders.Exists(h => h != session))
            {
                return false;
            }

            if (!holders.Contains(session))
            {
                holders.Add(session);
            }

            return true;
        }
    }

    internal void UnlockMailboxes(Pop3Session session)
    {
        lock (Sync)
        {
            foreach (var holders in _mailboxHolders.Values)
            {
                holders.Remove(session);
            }
        }
    }

    internal Pop3MailboxMessage[] SnapshotMailbox(string user, int generation)
    {
        lock (Sync)
        {
            return generation == _generation ? GetMailbox(user) : Array.Empty<Pop3MailboxMessage>();
        }
    }

    /// <summary>UPDATE state: removes the messages with these UIDs (those still there) and returns the UIDs removed.</summary>
    internal string[] CommitDeletions(string user, IList<string> uids, int generation)
    {
        var removed = new List<string>();
        lock (Sync)
        {
            if (generation != _generation || !_mailboxes.TryGetValue(user, out var list))
            {
                return removed.ToArray();
            }

            foreach (string uid in uids)
            {
                int index = list.FindIndex(m => m.Uid == uid);
                if (index >= 0)
                {
                    list.RemoveAt(index);
                    removed.Add(uid);
                }
            }
        }

        return removed.ToArray();
    }

    private Pop3Session CreatePop3SessionLocked(Socket socket, bool implicitTls, CancellationToken token, out string threadName)
    {
        _pop3ConnectionCount++;
        var record = new Pop3SessionRecord(Sync, ++_nextPop3SessionId, implicitTls, socket.RemoteEndPoint?.ToString());
        _pop3Sessions.Add(record);
        threadName = "MockMail POP3 session " + record.Id;
        return new Pop3Session(this, socket, record, implicitTls, _generation, token);
    }

    /// <summary>Called by Reset with the lock held; returns the temporary files to delete.</summary>
    private string[] ResetPop3()
    {
        _pop3Sessions.Clear();
        _pop3Rules.Clear();
        _mailboxes.Clear();
        _mailboxHolders.Clear();
        _pop3ConnectionCount = 0;
        _deliverToMailboxes = true;
        Pop3.CopyFrom(new Pop3Options());
        string[] files = _tempFiles.ToArray();
        _tempFiles.Clear();
        return files;
    }

    /// <summary>Stop: deletes the temporary files and drops the messages that lived in them.</summary>
    private void DropFileBackedMessages()
    {
        string[] files;
        lock (Sync)
        {
            foreach (var list in _mailboxes.Values)
            {
                list.RemoveAll(m => m.FilePath != null);
            }

            files = _tempFiles.ToArray();
            _tempFiles.Clear();
        }

        DeleteFiles(files);
    }

    private static void DeleteFiles(string[] files)
    {
        foreach (string file in files)
        {
            try
            {
                File.Delete(file);
            }
            catch (Exception)
            {
                // best effort (e.g. still open on a platform without delete sharing)
            }
        }
    }

    /// <summary>SMTP delivery, lock held.</summary>
    private void DeliverLocked(SmtpTransactionRecord transaction)
    {
        if (!_deliverToMailboxes || transaction.Data == null)
        {
            return;
        }

        var users = new List<string>();
        foreach (string address in transaction.AcceptedRecipients)
        {
            string? user = null;
            if (Users.ContainsKey(address))
            {
                user = address;
            }
            else
            {
                int at = address.LastIndexOf('@');
                string local = at > 0 ? address.Substring(0, at) : address;
                if (Users.ContainsKey(local))
                {
                    user = local;
                }
            }

            if (user != null && !users.Contains(user))
            {
                users.Add(user);
            }
        }

        if (users.Count == 0)
        {
            return;
        }

        // The recorded data lacks the CRLF that preceded the final dot: it belongs to the last line.
        byte[] data = transaction.Data;
        byte[] message = NormalizeLineEnds(data);
        if (message.Length > 0 && message[message.Length - 1] != (byte)'\n')
        {
            Array.Resize(ref message, message.Length + 2);
            message[message.Length - 2] = (byte)'\r';
            message[message.Length - 1] = (byte)'\n';
        }

        foreach (string user in users)
        {
            AppendLocked(user, NewUid(), message.Length, message, null);
        }
    }

    private static void CheckUser(string user)
    {
        if (string.IsNullOrEmpty(user))
        {
            throw new ArgumentException("A user name is required.", nameof(user));
        }
    }

    private string NewUid() => "mock-" + Interlocked.Increment(ref _uidCounter).ToString("D6", CultureInfo.InvariantCulture);

    private string Append(string user, string? uid, long size, byte[]? data, string? filePath)
    {
        if (uid != null)
        {
            if (uid.Length == 0 || uid.Length > 70)
            {
                throw new ArgumentException("A UID has 1 to 70 characters (RFC 1939).", nameof(uid));
            }

            foreach (char c in uid)
            {
                if (c < 0x21 || c > 0x7E)
                {
                    throw new ArgumentException("A UID consists of printable ASCII characters 0x21-0x7E (RFC 1939).", nameof(uid));
                }
            }
        }

        lock (Sync)
        {
            if (filePath != null)
            {
                _tempFiles.Add(filePath);
            }

            string id = uid ?? NewUid();
            if (_mailboxes.TryGetValue(user, out var list) && list.Exists(m => m.Uid == id))
            {
                throw new ArgumentException("The mailbox of '" + user + "' already has a message with UID " + id + ".", nameof(uid));
            }

            AppendLocked(user, id, size, data, filePath);
            return id;
        }
    }

    private void AppendLocked(string user, string uid, long size, byte[]? data, string? filePath)
    {
        if (!_mailboxes.TryGetValue(user, out var list))
        {
            list = new List<Pop3MailboxMessage>();
            _mailboxes[user] = list;
        }

        list.Add(new Pop3MailboxMessage(uid, size, data, filePath));
    }

    private static string NewTempFile() =>
        Path.Combine(Path.GetTempPath(), "mockmail-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N") + ".eml");

    /// <summary>Bare LF becomes CRLF (CR and CRLF are kept).</summary>
    private static byte[] NormalizeLineEnds(byte[] data)
    {
        int bare = 0;
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] == (byte)'\n' && (i == 0 || data[i - 1] != (byte)'\r'))
            {
                bare++;
            }
        }

        if (bare == 0)
        {
            return (byte[])data.Clone();
        }

        byte[] result = new byte[data.Length + bare];
        int o = 0;
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] == (byte)'\n' && (i == 0 || data[i - 1] != (byte)'\r'))
            {
                result[o++] = (byte)'\r';
            }

            result[o++] = data[i];
        }

        return result;
    }

    /// <summary>Streams <paramref name="input"/> to <paramref name="output"/>, turning bare LF into CRLF.</summary>
    private static void CopyNormalized(Stream input, Stream output)
    {
        byte[] inBuf = new byte[CopyBufferSize];
        byte[] outBuf = new byte[CopyBufferSize * 2];
        byte previous = 0;
        int n;
        while ((n = input.Read(inBuf, 0, inBuf.Length)) > 0)
        {
            int o = 0;
            for (int i = 0; i < n; i++)
            {
                byte b = inBuf[i];
                if (b == (byte)'\n' && previous != (byte)'\r')
                {
                    outBuf[o++] = (byte)'\r';
                }

                outBuf[o++] = b;
                previous = b;
            }

            output.Write(outBuf, 0, o);
        }
    }

    /// <summary>Writes a multipart/mixed message with a text part and a base64 attachment so that the total
    /// is about <paramref name="approximateBytes"/>; the attachment is generated chunk by chunk.</summary>
    private static void WriteLargeMessage(Stream output, string user, long approximateBytes, long serial)
    {
        string s = serial.ToString(CultureInfo.InvariantCulture);
        string boundary = "mockmail-boundary-" + s;
        string date = DateTimeOffset.UtcNow.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture);
        string head =
            "From: Large Sender <large@example.com>\r\n" +
            "To: <" + user + "@example.com>\r\n" +
            "Subject: Large message " + s + " (about " + approximateBytes.ToString(CultureInfo.InvariantCulture) + " bytes)\r\n" +
            "Date: " + date + "\r\n" +
            "Message-ID: <large." + s + ".mock@example.com>\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n" +
            "\r\n" +
            "This is a multi-part message in MIME format.\r\n" +
            "\r\n" +
            "--" + boundary + "\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\n" +
            "Content-Transfer-Encoding: 7bit\r\n" +
            "\r\n" +
            "This message carries a generated attachment.\r\n" +
            "\r\n" +
            "--" + boundary + "\r\n" +
            "Content-Type: application/octet-stream; name=\"large-" + s + ".bin\"\r\n" +
            "Content-Transfer-Encoding: base64\r\n" +
            "Content-Disposition: attachment; filename=\"large-" + s + ".bin\"\r\n" +
            "\r\n";
        string tail = "--" + boundary + "--\r\n";

        byte[] headBytes = Encoding.UTF8.GetBytes(head);
        byte[] tailBytes = Encoding.ASCII.GetBytes(tail);
        output.Write(headBytes, 0, headBytes.Length);

        // 57 raw bytes per base64 line of 76 characters + CRLF.
        const int RawPerLine = 57;
        const int LinesPerChunk = 1024;
        long encodedBudget = Math.Max(0, approximateBytes - headBytes.Length - tailBytes.Length);
        long rawTotal = encodedBudget / 78 * RawPerLine;
        long rest = encodedBudget % 78;
        if (rest > 6)
        {
            rawTotal += (rest - 2) / 4 * 3; // a last, shorter line
        }

        byte[] raw = new byte[RawPerLine * LinesPerChunk];
        byte[] encoded = new byte[78 * LinesPerChunk];
        ulong state = 0x9E3779B97F4A7C15UL ^ (ulong)serial;
        long remaining = rawTotal;
        while (remaining > 0)
        {
            int chunk = (int)Math.Min(raw.Length, remaining);
            for (int i = 0; i < chunk; i += 8)
            {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ulong v = state;
                for (int k = 0; k < 8 && i + k < chunk; k++)
                {
                    raw[i + k] = (byte)v;
                    v >>= 8;
                }
            }

            int o = 0;
            for (int offset = 0; offset < chunk; offset += RawPerLine)
            {
                int len = Math.Min(RawPerLine, chunk - offset);
                Base64.EncodeToUtf8(raw.AsSpan(offset, len), encoded.AsSpan(o), out _, out int written, isFinalBlock: true);
                o += written;
                encoded[o++] = (byte)'\r';
                encoded[o++] = (byte)'\n';
            }

            output.Write(encoded, 0, o);
            remaining -= chunk;
        }

        output.Write(tailBytes, 0, tailBytes.Length);
    }
}
