using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using MimeKit;

namespace MailProtocols.Engine.Smtp;

/// <summary>A MIME message ready to send, with its envelope and the files it holds open.</summary>
internal sealed class ComposedMessage : IDisposable
{
    private readonly List<Stream> _streams;

    public ComposedMessage(MimeMessage mime, MailboxAddress sender, IReadOnlyList<MailboxAddress> recipients, List<Stream> streams)
    {
        Mime = mime;
        Sender = sender;
        Recipients = recipients;
        _streams = streams;
    }

    public MimeMessage Mime { get; }
    public MailboxAddress Sender { get; }
    public IReadOnlyList<MailboxAddress> Recipients { get; }

    public void Dispose()
    {
        foreach (var stream in _streams)
        {
            stream.Dispose();
        }

        // MimeMessage and every MimeEntity have finalizers: undisposed, each message's whole
        // object graph would outlive the next collection and wait for the finalizer thread.
        // Its properties (MessageId, Subject) stay readable for the error texts made after this.
        Mime.Dispose();
    }
}

/// <summary>
/// Turns an <see cref="OutgoingMessage"/> into MIME. Everything that can be wrong with the input
/// (an address that does not parse, a file that is not there, a header that would inject another
/// header) is found here, before any connection is made. Attachments are streamed from disk, never
/// read into memory.
/// </summary>
internal static class MessageComposer
{
    private static readonly ParserOptions StrictAddresses = new()
    {
        AddressParserComplianceMode = RfcComplianceMode.Strict,
        AllowAddressesWithoutDomain = false,
    };

    // Headers that parameters own; setting them through -Header would make the message lie.
    private static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Sender", "Date", "MIME-Version",
        "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
    };

    private static readonly char[] LineBreakOrNul = { '\r', '\n', '\0' };
    private static readonly Encoding Utf8 = new UTF8Encoding(false);

    public static ComposedMessage Compose(OutgoingMessage input)
    {
        var from = ParseAddresses(new[] { input.From }, "From");
        if (from.Count != 1)
        {
            throw InvalidAddress(input.From, "The sender must be exactly one address.");
        }

        var to = ParseAddresses(input.To, "To");
        var cc = ParseAddresses(input.Cc, "Cc");
        var replyTo = ParseAddresses(input.ReplyTo, "ReplyTo");
        // Bcc recipients go into the envelope only, never into a header.
        var bcc = ParseAddresses(input.Bcc, "Bcc");

        // Each address once (the first of its spellings), in the order given.
        var recipients = new List<MailboxAddress>(to.Count + cc.Count + bcc.Count);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var list in new[] { to, cc, bcc })
        {
            foreach (var mailbox in list)
            {
                if (seen.Add(mailbox.Address))
                {
                    recipients.Add(mailbox);
                }
            }
        }

        if (recipients.Count == 0)
        {
            throw new MailOperationException("NoRecipient", MailErrorKind.InvalidArgument, null,
                "The message has no recipient: give at least one address in -To, -Cc or -Bcc.");
        }

        if (input.Subject != null)
        {
            RejectControlCharacters(input.Subject, "InvalidSubject", "The subject");
        }

        // The headers new MimeMessage() starts with, in its order. Given all four, the constructor
        // makes no Message-ID of its own (a random-number call and an IDN encoding of the host
        // name per message); the property sets below give them their values.
        var mime = new MimeMessage(new Header(HeaderId.From, ""), new Header(HeaderId.Date, ""), new Header(HeaderId.Subject, ""), new Header(HeaderId.MessageId, ""));
        mime.From.Add(from[0]);
        mime.Date = DateTimeOffset.Now;
        mime.Subject = input.Subject ?? "";
        mime.MessageId = MessageIds.Next();
        mime.To.AddRange(to);
        mime.Cc.AddRange(cc);
        mime.ReplyTo.AddRange(replyTo);
        AddHeaders(mime, input);

        var streams = new List<Stream>();
        try
        {
            mime.Body = BuildBody(input, streams);
        }
        catch
        {
            foreach (var stream in streams)
            {
                stream.Dispose();
            }

            throw;
        }

        return new ComposedMessage(mime, from[0], recipients, streams);
    }

    /// <summary>Parses each entry (an entry may hold several comma-separated addresses).</summary>
    internal static List<MailboxAddress> ParseAddresses(IEnumerable<string> entries, string field)
    {
        var result = new List<MailboxAddress>();
        foreach (var entry in entries)
        {
            if (string.IsNullOrWhiteSpace(entry))
            {
                continue;
            }

            if (entry.IndexOfAny(LineBreakOrNul) >= 0)
            {
                throw InvalidAddress(entry, $"The {field} address contains a line break or NUL character.");
            }

            if (!InternetAddressList.TryParse(StrictAddresses, entry, out var list) || list.Count == 0)
            {
                throw InvalidAddress(entry, $"'{entry}' is not a valid e-mail address (-{field}).");
            }

            foreach (var address in list)
            {
                if (address is not MailboxAddress mailbox || !IsComplete(mailbox))
                {
                    throw InvalidAddress(entry, $"'{entry}' is not a valid e-mail address (-{field}).");
                }

                result.Add(mailbox);
            }
        }

        return result;
    }

    private static bool IsComplete(MailboxAddress mailbox)
    {
        var address = mailbox.Address;
        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1)
        {
            return false;
        }

        foreach (var c in address)
        {
            if (char.IsWhiteSpace(c))
            {
                return false;
            }
        }

        return true;
    }

    private static MailOperationException InvalidAddress(string value, string message) =>
        new("InvalidAddress", MailErrorKind.InvalidArgument, value, message);

    private static void RejectControlCharacters(string value, string errorId, string what)
    {
        foreach (var c in value)
        {
            if ((c < ' ' && c != '\t') || c == '\u007f')
            {
                throw new MailOperationException(errorId, MailErrorKind.InvalidArgument, value,
                    $"{what} contains a line break or another control character, which could inject header lines.");
            }
        }
    }

    private static void AddHeaders(MimeMessage mime, OutgoingMessage input)
    {
        switch (input.Priority)
        {
            case MessagePriority.High:
                mime.Priority = MimeKit.MessagePriority.Urgent;
                mime.Importance = MessageImportance.High;
                // As Send-MailMessage writes it: mail rules match "X-Priority: 1", not "2 (High)".
                mime.Headers[HeaderId.XPriority] = "1";
                break;
            case MessagePriority.Low:
                mime.Priority = MimeKit.MessagePriority.NonUrgent;
                mime.Importance = MessageImportance.Low;
                mime.Headers[HeaderId.XPriority] = "5";
                break;
        }

        foreach (var pair in input.Headers)
        {
            var name = pair.Key;
            if (name.Length == 0 || name.Any(c => c <= ' ' || c > '~' || c == ':'))
            {
                throw new MailOperationException("InvalidHeaderName", MailErrorKind.InvalidArgument, name,
                    $"'{name}' is not a valid header name (printable ASCII without spaces or colons).");
            }

            if (ReservedHeaders.Contains(name))
            {
                throw new MailOperationException("ReservedHeader", MailErrorKind.InvalidArgument, name,
                    $"The {name} header is set by a parameter of its own, not by -Header.");
            }

            var value = pair.Value ?? "";
            RejectControlCharacters(value, "InvalidHeaderValue", $"The value of header {name}");
            if (name.Equals("Message-ID", StringComparison.OrdinalIgnoreCase))
            {
                mime.MessageId = value.Trim().Trim('<', '>');
            }
            else
            {
                mime.Headers.Add(name, value);
            }
        }
    }

    private static MimeEntity BuildBody(OutgoingMessage input, List<Stream> streams)
    {
        var encoding = input.BodyEncoding ?? Utf8;
        MimeEntity? text = input.TextBody == null ? null : TextPart("plain", input.TextBody, encoding);
        MimeEntity? html = input.HtmlBody == null ? null : TextPart("html", input.HtmlBody, encoding);

        if (input.InlineImages.Count > 0)
        {
            if (html == null)
            {
                throw new MailOperationException("InlineImageWithoutHtml", MailErrorKind.InvalidArgument, null,
                    "Inline images need an HTML body that refers to them as cid:<name>: add -BodyAsHtml or -HtmlBody.");
            }

            var related = new MultipartRelated { html };
            foreach (var pair in input.InlineImages)
            {
                var part = FilePart(pair.Value, streams, ContentDisposition.Inline);
                part.ContentId = pair.Key;
                related.Add(part);
            }

            html = related;
        }

        MimeEntity body;
        if (text != null && html != null)
        {
            body = new MultipartAlternative { text, html };
        }
        else
        {
            body = text ?? html ?? TextPart("plain", "", encoding);
        }

        if (input.Attachments.Count == 0)
        {
            return body;
        }

        var mixed = new Multipart("mixed") { body };
        foreach (var path in input.Attachments)
        {
            mixed.Add(FilePart(path, streams, ContentDisposition.Attachment));
        }

        return mixed;
    }

    private static TextPart TextPart(string subtype, string content, Encoding encoding)
    {
        var part = new TextPart(subtype);
        part.SetText(encoding, content);
        return part;
    }

    private static MimePart FilePart(string path, List<Stream> streams, string disposition)
    {
        Stream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException || ex is DirectoryNotFoundException)
        {
            throw new MailOperationException("AttachmentNotFound", MailErrorKind.ObjectNotFound, path,
                $"Cannot attach '{path}': the file does not exist.", ex);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw new MailOperationException("AttachmentNotReadable", MailErrorKind.InvalidArgument, path,
                $"Cannot attach '{path}': {ex.Message}", ex);
        }

        streams.Add(stream);
        var fileName = Path.GetFileName(path);
        return new MimePart(MimeTypes.GetMimeType(fileName))
        {
            Content = new MimeContent(stream),
            ContentDisposition = new ContentDisposition(disposition) { FileName = fileName },
            ContentTransferEncoding = ContentEncoding.Base64,
        };
    }
}
