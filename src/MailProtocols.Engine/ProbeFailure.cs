using System;

namespace MailProtocols.Engine;

/// <summary>A probe stage's failure that the server's reply (or what it does not offer) makes.</summary>
internal sealed class ProbeFailure : Exception
{
    public ProbeFailure(string message, string? hint)
        : base(message)
    {
        Hint = hint;
    }

    public string? Hint { get; }
}
