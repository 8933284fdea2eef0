namespace MailProtocols.Engine;

/// <summary>How a connection is secured.</summary>
public enum TlsMode
{
    /// <summary>Implicit TLS on the implicit-TLS ports (465 for SMTP); otherwise STARTTLS when the
    /// server offers it, plain text when it does not (credentials are then refused unless
    /// unencrypted authentication was allowed).</summary>
    Auto,
    /// <summary>Plain text; STARTTLS is not used even if offered.</summary>
    None,
    /// <summary>STARTTLS is required: a server that does not offer it, or fails it, is an error.</summary>
    StartTls,
    /// <summary>TLS from the first byte (SMTPS on 465).</summary>
    Implicit,
}
