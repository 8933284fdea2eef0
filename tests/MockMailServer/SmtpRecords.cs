using System.Collections.Generic;
using System.Text;

namespace MockMail;

/// <summary>One SMTP connection (the members it shares with POP3 are in <see cref="SessionRecord"/>).</summary>
public sealed class SmtpSessionRecord : SessionRecord
{
    private readonly List<SmtpTransactionRecord> _transactions = new();

    internal SmtpSessionRecord(object sync, int id, bool implicitTls, string? remoteEndPoint)
        : base(sync, id, implicitTls, remoteEndPoint)
    {
    }

    /// <summary>Argument of the last EHLO/HELO.</summary>
    public string? EhloName { get; internal set; }

    /// <summary>Commands that arrived while an earlier reply was still owed, on a connection
    /// where PIPELINING was not offered (a strict server would refuse them).</summary>
    public int UnallowedPipelining { get; internal set; }

    /// <summary>Authenticated user (reset by STARTTLS, as RFC 3207 requires).</summary>
    public string? AuthUser { get; internal set; }

    /// <summary>Every MAIL FROM..end transaction of this session, accepted or not.</summary>
    public SmtpTransactionRecord[] Transactions
    {
        get
        {
            lock (Sync)
            {
                return _transactions.ToArray();
            }
        }
    }

    internal void AddTransaction(SmtpTransactionRecord transaction)
    {
        lock (Sync)
        {
            _transactions.Add(transaction);
        }
    }

    public override string ToString() =>
        $"Session {Id} ehlo={EhloName} tls={Tls} auth={AuthUser} commands={Commands.Length} roundTrips={RoundTrips}";
}

/// <summary>One MAIL FROM transaction.</summary>
public sealed class SmtpTransactionRecord
{
    private readonly object _sync;
    private readonly List<SmtpRecipientRecord> _recipients = new();
    private byte[]? _data;
    private string? _dataText;

    internal SmtpTransactionRecord(object sync, int sessionId, string mailFrom, Dictionary<string, string> parameters, bool tls, string? authUser)
    {
        _sync = sync;
        SessionId = sessionId;
        MailFrom = mailFrom;
        MailParameters = parameters;
        Tls = tls;
        AuthUser = authUser;
    }

    public int SessionId { get; }

    /// <summary>Reverse path without &lt;&gt;; "" for the null sender.</summary>
    public string MailFrom { get; }

    /// <summary>MAIL parameters (SIZE, BODY, RET, ENVID, SMTPUTF8, ...); upper-case keys, case-insensitive;
    /// value "" when the keyword has no value.</summary>
    public Dictionary<string, string> MailParameters { get; }

    /// <summary>Every RCPT TO, accepted or not.</summary>
    public SmtpRecipientRecord[] Recipients
    {
        get
        {
            lock (_sync)
            {
                return _recipients.ToArray();
            }
        }
    }

    public string[] AcceptedRecipients
    {
        get
        {
            lock (_sync)
            {
                var list = new List<string>();
                foreach (var r in _recipients)
                {
                    if (r.Accepted)
                    {
                        list.Add(r.Address);
                    }
                }

                return list.ToArray();
            }
        }
    }

    /// <summary>Message bytes after dot-unstuffing, without the final CRLF.CRLF; null if DATA never finished.</summary>
    public byte[]? Data
    {
        get
        {
            lock (_sync)
            {
                return _data;
            }
        }
    }

    /// <summary><see cref="Data"/> decoded as UTF-8; null if none.</summary>
    public string? DataText
    {
        get
        {
            lock (_sync)
            {
                if (_data == null)
                {
                    return null;
                }

                return _dataText ??= Encoding.UTF8.GetString(_data);
            }
        }
    }

    /// <summary>A 2xx reply was sent after the final dot.</summary>
    public bool Completed { get; private set; }

    /// <summary>The reply sent after the final dot, or null.</summary>
    public string? FinalReply { get; private set; }

    /// <summary>The id in "250 2.0.0 Ok: queued as ID" when completed.</summary>
    public string? QueueId { get; private set; }

    /// <summary>TLS was active at MAIL FROM.</summary>
    public bool Tls { get; }

    /// <summary>Authenticated user at MAIL FROM.</summary>
    public string? AuthUser { get; }

    internal void AddRecipient(SmtpRecipientRecord recipient)
    {
        lock (_sync)
        {
            _recipients.Add(recipient);
        }
    }

    internal bool HasAcceptedRecipient()
    {
        lock (_sync)
        {
            return _recipients.Exists(r => r.Accepted);
        }
    }

    internal void SetData(byte[] data)
    {
        lock (_sync)
        {
            _data = data;
            _dataText = null;
        }
    }

    internal void Finish(bool completed, string reply, string? queueId)
    {
        lock (_sync)
        {
            FinalReply = reply;
            QueueId = queueId;
            Completed = completed;
        }
    }

    public override string ToString() =>
        $"MAIL FROM:<{MailFrom}> to {string.Join(",", AcceptedRecipients)} completed={Completed} bytes={Data?.Length}";
}

/// <summary>One RCPT TO.</summary>
public sealed class SmtpRecipientRecord
{
    internal SmtpRecipientRecord(string address, Dictionary<string, string> parameters, bool accepted, string reply)
    {
        Address = address;
        Parameters = parameters;
        Accepted = accepted;
        Reply = reply;
    }

    /// <summary>Forward path without &lt;&gt; (the raw argument when it could not be parsed).</summary>
    public string Address { get; }

    /// <summary>NOTIFY, ORCPT, ...; upper-case keys, case-insensitive.</summary>
    public Dictionary<string, string> Parameters { get; }

    public bool Accepted { get; }

    /// <summary>The reply sent to this RCPT.</summary>
    public string Reply { get; }

    public override string ToString() => $"{Address} {(Accepted ? "accepted" : "rejected")}: {Reply}";
}
