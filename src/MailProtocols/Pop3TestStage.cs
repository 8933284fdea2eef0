namespace MailProtocols;

/// <summary>
/// The stage after which Test-Pop3Connection ends its session (the -QuitAfter parameter). It
/// mirrors the engine's Pop3ProbeStage under a name of its own, as SmtpTestStage does: parameter
/// types come from this assembly, so that importing the module never needs the engine.
/// </summary>
public enum Pop3TestStage
{
    /// <summary>The TCP connection.</summary>
    Connect = Engine.Pop3.Pop3ProbeStage.Connect,

    /// <summary>The server's greeting (and its APOP timestamp).</summary>
    Greeting = Engine.Pop3.Pop3ProbeStage.Greeting,

    /// <summary>CAPA and the capabilities it lists.</summary>
    Capa = Engine.Pop3.Pop3ProbeStage.Capa,

    /// <summary>STLS (or implicit TLS) and the CAPA after it.</summary>
    Tls = Engine.Pop3.Pop3ProbeStage.Tls,

    /// <summary>The login.</summary>
    Auth = Engine.Pop3.Pop3ProbeStage.Auth,

    /// <summary>STAT: the number of messages and their size.</summary>
    Stat = Engine.Pop3.Pop3ProbeStage.Stat,
}
