using System;
using System.Collections.Generic;
using System.Threading;

namespace MockMail;

/// <summary>
/// What the record of an SMTP connection (<see cref="SmtpSessionRecord"/>) and of a POP3 connection
/// (<see cref="Pop3SessionRecord"/>) have in common. Live object: it is updated while the connection runs;
/// the array properties return snapshots.
/// </summary>
public abstract class SessionRecord
{
    private readonly List<string> _commands = new();
    private readonly List<DateTime> _commandTimes = new();
    private int _roundTrips;

    private protected SessionRecord(object sync, int id, bool implicitTls, string? remoteEndPoint)
    {
        Sync = sync;
        Id = id;
        ImplicitTls = implicitTls;
        RemoteEndPoint = remoteEndPoint;
        Started = DateTime.Now;
    }

    public int Id { get; }

    public DateTime Started { get; }

    /// <summary>Accepted on the implicit-TLS listener (SMTPS or POP3S).</summary>
    public bool ImplicitTls { get; }

    public string? RemoteEndPoint { get; }

    /// <summary>TLS active (implicit, or after STARTTLS or STLS).</summary>
    public bool Tls { get; internal set; }

    /// <summary>e.g. "Tls13".</summary>
    public string? TlsProtocol { get; internal set; }

    /// <summary>Why a TLS handshake failed (the session ended there), else null.</summary>
    public string? TlsError { get; internal set; }

    /// <summary>"PLAIN", "LOGIN", "XOAUTH2", "GSSAPI" or "NTLM" (POP3 also "USER" or "APOP") after a successful login
    /// (SMTP: reset by STARTTLS).</summary>
    public string? AuthMechanism { get; internal set; }

    /// <summary>Why the server side refused a GSSAPI or NTLM exchange (a NegotiateAuthentication status, or
    /// "security layer answer"), else null.</summary>
    public string? GssapiFailure { get; internal set; }

    /// <summary>After AUTH NTLM: whether the client's AUTHENTICATE message carried a channel binding
    /// (a non-zero MsvAvChannelBindings pair in its NTLMv2 response), else null.</summary>
    public bool? NtlmChannelBinding { get; internal set; }

    /// <summary>Number of login attempts: AUTH commands (POP3 also PASS and APOP).</summary>
    public int AuthAttempts { get; internal set; }

    /// <summary>Every line received, verbatim without CRLF, including AUTH continuation lines (not SMTP
    /// message data). Over-long lines are recorded truncated.</summary>
    public string[] Commands
    {
        get
        {
            lock (Sync)
            {
                return _commands.ToArray();
            }
        }
    }

    /// <summary>When each line of <see cref="Commands"/> was received (UTC, same order): tests
    /// measure the client's waits between commands with it.</summary>
    public DateTime[] CommandTimes
    {
        get
        {
            lock (Sync)
            {
                return _commandTimes.ToArray();
            }
        }
    }

    /// <summary>How often the server flushed replies and then had to wait for more input.</summary>
    public int RoundTrips => Volatile.Read(ref _roundTrips);

    public bool QuitReceived { get; internal set; }

    /// <summary>The server closed the connection without a client QUIT (rule, idle timeout, Stop, DisconnectAll).</summary>
    public bool ClosedByServer { get; internal set; }

    /// <summary>The connection is over and its handler has finished (POP3: mailbox lock released).</summary>
    public bool Ended { get; internal set; }

    /// <summary>Unexpected I/O error that ended the session (e.g. connection reset by the client) or
    /// "Idle timeout", else null.</summary>
    public string? Error { get; internal set; }

    /// <summary>The server lock, shared with the records of the same server.</summary>
    private protected object Sync { get; }

    internal void AddCommand(string line)
    {
        lock (Sync)
        {
            _commands.Add(line);
            _commandTimes.Add(DateTime.UtcNow);
        }
    }

    internal void CountRoundTrip() => Interlocked.Increment(ref _roundTrips);
}
