using System;
using System.Collections.Generic;
using System.Threading;

namespace MockMail;

/// <summary>One message of a POP3 mailbox (immutable).</summary>
public sealed class Pop3MailboxMessage
{
    internal Pop3MailboxMessage(string uid, long size, byte[]? data, string? filePath)
    {
        Uid = uid;
        Size = size;
        Data = data;
        FilePath = filePath;
    }

    /// <summary>The unique id reported by UIDL.</summary>
    public string Uid { get; }

    /// <summary>Size in octets (CRLF line ends), as reported by LIST and STAT.</summary>
    public long Size { get; }

    /// <summary>The raw message (CRLF line ends); null for a file-backed (large) message.</summary>
    public byte[]? Data { get; }

    /// <summary>The temporary file holding a large message, else null. Deleted by Reset/Stop.</summary>
    public string? FilePath { get; }

    public override string ToString() => $"{Uid} {Size} octets{(FilePath != null ? " (file)" : string.Empty)}";
}

/// <summary>One POP3 connection. Live object: it is updated while the connection runs; the array
/// properties return snapshots.</summary>
public sealed class Pop3SessionRecord
{
    private readonly object _sync;
    private readonly List<string> _commands = new();
    private string[] _deletedUids = Array.Empty<string>();
    private string[] _markedUids = Array.Empty<string>();
    private int _roundTrips;

    internal Pop3SessionRecord(object sync, int id, bool implicitTls, string? remoteEndPoint)
    {
        _sync = sync;
        Id = id;
        ImplicitTls = implicitTls;
        RemoteEndPoint = remoteEndPoint;
        Started = DateTime.Now;
    }

    public int Id { get; }

    public DateTime Started { get; }

    /// <summary>Accepted on the implicit-TLS (POP3S) listener.</summary>
    public bool ImplicitTls { get; }

    public string? RemoteEndPoint { get; }

    /// <summary>TLS active (implicit or after STLS).</summary>
    public bool Tls { get; internal set; }

    /// <summary>e.g. "Tls13".</summary>
    public string? TlsProtocol { get; internal set; }

    /// <summary>Why a TLS handshake failed (the session ended there), else null.</summary>
    public string? TlsError { get; internal set; }

    /// <summary>The user after a successful login, else null.</summary>
    public string? User { get; internal set; }

    /// <summary>"USER", "APOP", "PLAIN", "LOGIN" or "XOAUTH2" after a successful login.</summary>
    public string? AuthMechanism { get; internal set; }

    /// <summary>Number of login attempts (PASS, APOP and AUTH commands).</summary>
    public int AuthAttempts { get; internal set; }

    /// <summary>Every line received, verbatim without CRLF, including AUTH continuation lines.
    /// Over-long lines are recorded truncated.</summary>
    public string[] Commands
    {
        get
        {
            lock (_sync)
            {
                return _commands.ToArray();
            }
        }
    }

    /// <summary>How often the server flushed replies and then had to wait for more input.</summary>
    public int RoundTrips => Volatile.Read(ref _roundTrips);

    public bool QuitReceived { get; internal set; }

    /// <summary>QUIT in the TRANSACTION state applied the deletions (the UPDATE state was reached).</summary>
    public bool Committed { get; internal set; }

    /// <summary>UIDs actually removed from the mailbox at the commit (empty if none or not committed).</summary>
    public string[] DeletedUids
    {
        get
        {
            lock (_sync)
            {
                return (string[])_deletedUids.Clone();
            }
        }
    }

    /// <summary>UIDs currently marked with DELE (RSET clears); after the session: the marks at its end.</summary>
    public string[] MarkedUids
    {
        get
        {
            lock (_sync)
            {
                return (string[])_markedUids.Clone();
            }
        }
    }

    /// <summary>The server closed the connection without a client QUIT (rule, idle timeout, Stop, DisconnectAll).</summary>
    public bool ClosedByServer { get; internal set; }

    /// <summary>The connection is over and its handler has finished (mailbox lock released).</summary>
    public bool Ended { get; internal set; }

    /// <summary>Unexpected I/O error that ended the session (e.g. connection reset by the client) or
    /// "Idle timeout", else null.</summary>
    public string? Error { get; internal set; }

    internal void AddCommand(string line)
    {
        lock (_sync)
        {
            _commands.Add(line);
        }
    }

    internal void SetDeleted(string[] uids)
    {
        lock (_sync)
        {
            _deletedUids = uids;
        }
    }

    internal void SetMarked(string[] uids)
    {
        lock (_sync)
        {
            _markedUids = uids;
        }
    }

    internal void CountRoundTrip() => Interlocked.Increment(ref _roundTrips);

    public override string ToString() =>
        $"POP3 session {Id} tls={Tls} user={User} commands={Commands.Length} roundTrips={RoundTrips} committed={Committed}";
}
