using System;

namespace MockMail;

/// <summary>
/// POP3 behaviour switches. A connection copies them when it starts, so changes apply to new connections.
/// <see cref="MockServer.Reset"/> restores the defaults.
/// </summary>
public sealed class Pop3Options
{
    private string[] _saslMechanisms = { "PLAIN", "LOGIN", "XOAUTH2" };
    private string _greeting = "MockMail POP3 ready";
    private string _implementation = "MockMail";
    private string[] _extraCapabilities = Array.Empty<string>();

    /// <summary>Advertise and accept TOP (off: TOP answers -ERR Unknown command).</summary>
    public bool Top { get; set; } = true;

    /// <summary>Advertise and accept UIDL (off: UIDL answers -ERR Unknown command).</summary>
    public bool Uidl { get; set; } = true;

    /// <summary>Advertise PIPELINING (pipelined commands are always answered in order).</summary>
    public bool Pipelining { get; set; } = true;

    /// <summary>Advertise and accept STLS on the plain listener.</summary>
    public bool Stls { get; set; } = true;

    /// <summary>Advertise RESP-CODES and AUTH-RESP-CODE and put [AUTH], [IN-USE], [SYS/TEMP] codes into -ERR replies.</summary>
    public bool RespCodes { get; set; } = true;

    /// <summary>Advertise and accept USER/PASS.</summary>
    public bool User { get; set; } = true;

    /// <summary>Put an APOP timestamp into the greeting and accept APOP.</summary>
    public bool Apop { get; set; } = true;

    /// <summary>SASL mechanisms advertised and accepted (PLAIN, LOGIN, XOAUTH2 are implemented);
    /// empty = no SASL capability and AUTH answers -ERR Unknown command.</summary>
    public string[] SaslMechanisms
    {
        get => _saslMechanisms;
        set => _saslMechanisms = value ?? Array.Empty<string>();
    }

    /// <summary>false: CAPA answers -ERR Unknown command (a pre-RFC 2449 server).</summary>
    public bool Capa { get; set; } = true;

    /// <summary>STLS is advertised, but the command answers -ERR.</summary>
    public bool StlsFails { get; set; }

    /// <summary>A login while another session holds the same user's mailbox gets -ERR [IN-USE].</summary>
    public bool LockMailbox { get; set; } = true;

    /// <summary>USER, PASS, APOP and AUTH before TLS get -ERR [AUTH] (they are still advertised).</summary>
    public bool AuthRequiresTls { get; set; }

    /// <summary>Text after "+OK " in the greeting (the APOP timestamp follows when <see cref="Apop"/> is on).</summary>
    public string Greeting
    {
        get => _greeting;
        set => _greeting = value ?? string.Empty;
    }

    /// <summary>Value of the IMPLEMENTATION capability; empty = no IMPLEMENTATION line.</summary>
    public string Implementation
    {
        get => _implementation;
        set => _implementation = value ?? string.Empty;
    }

    /// <summary>Lines CAPA lists after its own, in both states, e.g. "EXPIRE 0" or "LOGIN-DELAY 900"
    /// (RFC 2449); advertised only, they change nothing else.</summary>
    public string[] ExtraCapabilities
    {
        get => _extraCapabilities;
        set => _extraCapabilities = value ?? Array.Empty<string>();
    }

    /// <summary>Breaks RFC 1939 as some servers do (smtp4dev among them): a DELE takes the message
    /// out of the numbering at once, so the messages after it move down one number.</summary>
    public bool RenumberOnDele { get; set; }

    /// <summary>Idle timeout per connection (the connection is closed without a reply, RFC 1939); 0 = none. Default 120.</summary>
    public int IdleTimeoutSeconds { get; set; } = 120;

    /// <summary>Refuse every AUTH as Exchange Online refuses a token it does not accept for the mailbox: after
    /// the client's response (no error challenge), <c>-ERR Authentication failure: unknown user name or bad
    /// password.</c>, whatever the credentials.</summary>
    public bool ExchangeAuthRefusal { get; set; }

    internal Pop3Options Clone()
    {
        var copy = new Pop3Options();
        copy.CopyFrom(this);
        return copy;
    }

    internal void CopyFrom(Pop3Options other)
    {
        Top = other.Top;
        Uidl = other.Uidl;
        Pipelining = other.Pipelining;
        Stls = other.Stls;
        RespCodes = other.RespCodes;
        User = other.User;
        Apop = other.Apop;
        SaslMechanisms = (string[])other.SaslMechanisms.Clone();
        Capa = other.Capa;
        StlsFails = other.StlsFails;
        LockMailbox = other.LockMailbox;
        AuthRequiresTls = other.AuthRequiresTls;
        Greeting = other.Greeting;
        Implementation = other.Implementation;
        IdleTimeoutSeconds = other.IdleTimeoutSeconds;
        RenumberOnDele = other.RenumberOnDele;
        ExchangeAuthRefusal = other.ExchangeAuthRefusal;
        ExtraCapabilities = (string[])other.ExtraCapabilities.Clone();
    }
}
