using System;
using System.Linq;

namespace MailProtocols.Engine.Smtp;

/// <summary>A message composed and checked (addresses, files, headers), not yet sent: what
/// <see cref="SmtpSender.Submit(PreparedMessage, object?)"/> takes, so that a message is composed
/// once whether or not the caller first asks what it would send.</summary>
public sealed class PreparedMessage : IDisposable
{
    internal PreparedMessage(OutgoingMessage input, ComposedMessage composed)
    {
        Input = input;
        Composed = composed;
    }

    internal OutgoingMessage Input { get; }

    internal ComposedMessage Composed { get; }

    /// <summary>True once a sender took the message over (and with it the files it holds open).</summary>
    internal bool Taken { get; set; }

    /// <summary>What would be sent, in words: subject, sender, recipients, attachments.</summary>
    public string Description
    {
        get
        {
            var attachments = Input.Attachments.Count == 0 ? "" : $", {Input.Attachments.Count} attachment(s)";
            return $"message '{Input.Subject}' from {Composed.Sender.Address} to {string.Join(", ", Composed.Recipients.Select(r => r.Address))}{attachments}";
        }
    }

    public void Dispose()
    {
        if (!Taken)
        {
            Composed.Dispose();
        }
    }
}
