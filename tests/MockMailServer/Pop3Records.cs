using System;
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

/// <summary>One POP3 connection (the members it shares with SMTP are in <see cref="SessionRecord"/>).</summary>
public sealed class Pop3SessionRecord : SessionRecord
{
    private string[] _deletedUids = Array.Empty<string>();
    private string[] _markedUids = Array.Empty<string>();

    internal Pop3SessionRecord(object sync, int id, bool implicitTls, string? remoteEndPoint)
        : base(sync, id, implicitTls, remoteEndPoint)
    {
    }

    /// <summary>The user after a successful login, else null.</summary>
    public string? User { get; internal set; }

    /// <summary>QUIT in the TRANSACTION state applied the deletions (the UPDATE state was reached).</summary>
    public bool Committed { get; internal set; }

    /// <summary>UIDs actually removed from the mailbox at the commit (empty if none or not committed).</summary>
    public string[] DeletedUids => (string[])Volatile.Read(ref _deletedUids).Clone();

    /// <summary>UIDs currently marked with DELE (RSET clears); after the session: the marks at its end.</summary>
    public string[] MarkedUids => (string[])Volatile.Read(ref _markedUids).Clone();

    /// <summary>Takes <paramref name="uids"/> (not copied, never changed afterwards).</summary>
    internal void SetDeleted(string[] uids) => Volatile.Write(ref _deletedUids, uids);

    /// <summary>Takes <paramref name="uids"/> (not copied, never changed afterwards).</summary>
    internal void SetMarked(string[] uids) => Volatile.Write(ref _markedUids, uids);

    public override string ToString() =>
        $"POP3 session {Id} tls={Tls} user={User} commands={Commands.Length} roundTrips={RoundTrips} committed={Committed}";
}
