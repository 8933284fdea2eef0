using System;
using System.Collections.Generic;
using System.IO;
using MimeKit;

namespace MailProtocols.Engine.Attachments;

/// <summary>One attachment of a message, with the name it will be saved under.</summary>
public sealed class MailAttachment
{
    internal MailAttachment(MimePart part, bool isInline)
    {
        Part = part;
        IsInline = isInline;
        OriginalName = part.FileName ?? "";
        ContentType = part.ContentType.MimeType;
        FileName = AttachmentFileName.Make(part.FileName, ContentType);
    }

    /// <summary>The name as the sender wrote it, decoded (RFC 2231, RFC 2047); empty when none.</summary>
    public string OriginalName { get; }

    /// <summary>The safe name it is saved under (before any suffix for a name already taken).</summary>
    public string FileName { get; }

    public string ContentType { get; }

    /// <summary>True for a part shown in the body (an inline image) rather than attached.</summary>
    public bool IsInline { get; }

    internal MimePart Part { get; }
}

/// <summary>
/// A message whose attachments are to be saved: one held in memory (Get-Pop3Message
/// -IncludeBody), or a saved .eml file, parsed so that its parts stay in the file and are decoded
/// from there as they are written (a 100 MB attachment never sits in memory).
/// </summary>
public sealed class MailAttachmentSource : IDisposable
{
    private readonly MimeMessage _message;
    private readonly Stream? _file;

    private MailAttachmentSource(MimeMessage message, Stream? file, string? path)
    {
        _message = message;
        _file = file;
        Path = path;
    }

    /// <summary>The .eml file, when the message came from one.</summary>
    public string? Path { get; }

    public string? MessageId => _message.MessageId;

    public string Subject => _message.Subject ?? "";

    /// <summary>A message held in memory: the Message property of a Get-Pop3Message object; null
    /// for anything else (such as a message that went through Export-Clixml).</summary>
    public static MailAttachmentSource? FromMessage(object message) =>
        message is MimeMessage parsed ? new MailAttachmentSource(parsed, null, null) : null;

    /// <summary>A saved .eml file; MessageUnreadable when it cannot be opened or is no message.</summary>
    public static MailAttachmentSource FromFile(string path)
    {
        FileStream? file = null;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 4096);
            var message = new MimeParser(file, MimeFormat.Entity, persistent: true).ParseMessage();
            return new MailAttachmentSource(message, file, path);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException || ex is FormatException)
        {
            file?.Dispose();
            throw new MailOperationException("MessageUnreadable", MailErrorKind.ReadError, path,
                $"Cannot read the message file '{path}': {ex.Message}", ex);
        }
    }

    /// <summary>The attachments, in the order of the message, those of attached (forwarded)
    /// messages included at any depth; with <paramref name="includeInline"/> also the inline parts
    /// that are not the message's text or HTML body.</summary>
    public IReadOnlyList<MailAttachment> List(bool includeInline)
    {
        var found = new List<MailAttachment>();
        Walk(_message.Body, includeInline, found, 0);
        return found;
    }

    private static void Walk(MimeEntity? entity, bool includeInline, List<MailAttachment> found, int depth)
    {
        // A message nested deeper than this is a trap, not mail.
        if (entity == null || depth > 64)
        {
            return;
        }

        switch (entity)
        {
            case Multipart multipart:
                foreach (var child in multipart)
                {
                    Walk(child, includeInline, found, depth + 1);
                }

                break;
            case MessagePart message:
                Walk(message.Message?.Body, includeInline, found, depth + 1);
                break;
            case MimePart part when part.IsAttachment:
                found.Add(new MailAttachment(part, isInline: false));
                break;
            case MimePart part when includeInline && !IsBodyText(part):
                found.Add(new MailAttachment(part, isInline: true));
                break;
        }
    }

    private static bool IsBodyText(MimePart part) =>
        part is TextPart && part.FileName == null;

    public void Dispose() => _file?.Dispose();
}
