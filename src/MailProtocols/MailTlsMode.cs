namespace MailProtocols;

/// <summary>
/// How a connection is secured (the -TlsMode parameter). It mirrors the engine's TlsMode under a
/// name of its own: parameter types must come from this assembly, so that importing the module
/// never needs the engine, which loads in the module's private load context.
/// </summary>
public enum MailTlsMode
{
    /// <summary>Implicit TLS on the implicit-TLS ports (465, 995), otherwise STARTTLS/STLS when
    /// offered, plain text when not (credentials are then refused unless allowed).</summary>
    Auto = Engine.TlsMode.Auto,

    /// <summary>Plain text; STARTTLS is not used even if offered.</summary>
    None = Engine.TlsMode.None,

    /// <summary>STARTTLS/STLS required.</summary>
    StartTls = Engine.TlsMode.StartTls,

    /// <summary>TLS from the first byte.</summary>
    Implicit = Engine.TlsMode.Implicit,
}
