using System;

namespace MailProtocols.Engine;

/// <summary>What kind of failure an engine error is. The cmdlet layer maps each kind to an
/// ErrorCategory; the engine itself knows nothing of PowerShell.</summary>
public enum MailErrorKind
{
    InvalidArgument,
    ObjectNotFound,
    ConnectionError,
    SecurityError,
    AuthenticationError,
    ProtocolError,
    ResourceUnavailable,
    ResourceBusy,
    OperationTimeout,
    InvalidOperation,
    WriteError,
    NotImplemented,
    LimitsExceeded,
    PermissionDenied,
    ReadError,
}

/// <summary>A failure with a stable identifier, a kind and the value it concerns (an address,
/// a path, a host). Every error the engine raises on purpose is one of these; the original
/// exception, when there was one, is the inner exception.</summary>
public sealed class MailOperationException : Exception
{
    public MailOperationException(string errorId, MailErrorKind kind, object? target, string message, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    /// <summary>Stable identifier, e.g. "AuthenticationFailed"; scripts may match on it.</summary>
    public string ErrorId { get; }

    public MailErrorKind Kind { get; }

    /// <summary>The offending value: an address, a file path, "host:port", a user name.</summary>
    public object? Target { get; }

    /// <summary>True when the session itself failed (cannot connect, TLS, authentication): no
    /// further message of the same invocation can go either.</summary>
    public bool IsSessionFailure { get; init; }

    /// <summary>What had been done when the failure came, where that matters to a retry: for
    /// RecipientRejected, the message's SmtpSendResult (its Accepted recipients got the message).</summary>
    public object? Result { get; init; }

    /// <summary>The identity provider's own code for a refused token request: the AADSTS code
    /// (e.g. "AADSTS7000215") when Microsoft Entra's reply has one, else the OAuth2 error
    /// ("invalid_client"); null for every other error.</summary>
    public string? ServiceErrorCode { get; init; }
}
