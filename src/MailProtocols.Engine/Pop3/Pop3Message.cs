using System;
using System.IO;
using System.Linq;
using MimeKit;

namespace MailProtocols.Engine.Pop3;

/// <summary>One message of a POP3 mailbox: the output object of Get-Pop3Message.</summary>
public sealed class Pop3Message
{
    /// <summary>The message's number in the session that read it (it changes between sessions).</summary>
    public int Number { get; set; }

    /// <summary>The server's unique ID: what Remove-Pop3Message deletes by.</summary>
    public string? Uid { get; set; }

    public long Size { get; set; }
    public DateTimeOffset? Date { get; set; }
    public string From { get; set; } = "";
    public TextList<string> To { get; set; } = TextList<string>.None;
    public TextList<string> Cc { get; set; } = TextList<string>.None;
    public string Subject { get; set; } = "";
    public string? MessageId { get; set; }

    /// <summary>File names of the attachments (empty when only headers were read).</summary>
    public TextList<string> AttachmentNames { get; set; } = TextList<string>.None;

    /// <summary>The .eml file the message was saved to, with -Destination.</summary>
    public string? SavedPath { get; set; }

    /// <summary>True when only the headers were read (TOP n 0): the bodies are not filled in.</summary>
    public bool HeadersOnly { get; set; }

    /// <summary>True when the message was marked for deletion (-Delete): the server deletes it
    /// when the session ends cleanly with QUIT, at the end of the command.</summary>
    public bool MarkedForDeletion
    {
        get => Mark.Marked;
        set => Mark.Marked = value;
    }

    /// <summary>What the fetcher keeps of the message until its DELE is answered, in place of
    /// the message itself.</summary>
    internal DeletionMark Mark { get; } = new();

    public string? TextBody { get; set; }
    public string? HtmlBody { get; set; }

    /// <summary>The parsed message (a MimeKit.MimeMessage), when the whole message was downloaded
    /// into memory; null with -Destination (load the saved file instead) or headers only.</summary>
    public object? Message { get; set; }

    public override string ToString() => $"{Uid} {Subject}";

    /// <summary>Fills the fields from a parsed message.</summary>
    internal static Pop3Message Create(Pop3Entry entry, MimeMessage parsed, bool headersOnly)
    {
        return new Pop3Message
        {
            Number = entry.Number,
            Uid = entry.Uid,
            Size = entry.Size,
            Date = parsed.Headers.Contains(HeaderId.Date) ? parsed.Date : null,
            From = parsed.From.ToString(),
            To = new TextList<string>(parsed.To.Select(a => a.ToString()).ToArray()),
            Cc = new TextList<string>(parsed.Cc.Select(a => a.ToString()).ToArray()),
            Subject = parsed.Subject ?? "",
            MessageId = parsed.MessageId,
            HeadersOnly = headersOnly,
            AttachmentNames = headersOnly ? TextList<string>.None : new TextList<string>(parsed.Attachments.Select(AttachmentName).ToArray()),
            TextBody = headersOnly ? null : parsed.TextBody,
            HtmlBody = headersOnly ? null : parsed.HtmlBody,
        };
    }

    /// <summary>Parses a message from a stream; with a file, large parts stay on disk.</summary>
    internal static MimeMessage Parse(Stream stream, bool persistent) =>
        new MimeParser(stream, MimeFormat.Entity, persistent).ParseMessage();

    private static string AttachmentName(MimeEntity entity) =>
        entity is MimePart part ? part.FileName ?? "" : entity is MessagePart message ? (message.Message?.Subject ?? "") + ".eml" : "";
}

/// <summary>Whether a message is marked for deletion, shared by the message and the fetcher.</summary>
internal sealed class DeletionMark
{
    public bool Marked { get; set; }
}
