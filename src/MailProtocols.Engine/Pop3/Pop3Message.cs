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

    /// <summary>File names of the attachments, decoded, as the sender gave them (empty when only
    /// headers were read); for a message held in memory, saved or imported, read from it when
    /// first asked for.</summary>
    public TextList<string> AttachmentNames
    {
        get
        {
            if (_attachmentNamesPending)
            {
                if (_savedFile != null)
                {
                    ReadSavedFile(withBodies: false);
                }
                else
                {
                    AttachmentNames = AttachmentNamesOf(Bodies!);
                }
            }

            return _attachmentNames;
        }
        set
        {
            _attachmentNames = value;
            _attachmentNamesPending = false;
        }
    }

    private TextList<string> _attachmentNames = TextList<string>.None;
    private bool _attachmentNamesPending;

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

    /// <summary>How the session that read the message logged in: "GSSAPI" for the current
    /// logon, a SASL mechanism such as "PLAIN" or "XOAUTH2", "USER" or "APOP"; null for a message
    /// read from a file.</summary>
    public string? AuthenticationMechanism { get; set; }

    /// <summary>What the fetcher keeps of the message until its DELE is answered, in place of
    /// the message itself.</summary>
    internal DeletionMark Mark { get; } = new();

    /// <summary>The plain-text body; for a message held in <see cref="Message"/>, decoded from it
    /// when first asked for (most listings never ask, and decoding cost more than parsing); for a
    /// saved or imported message, read from <see cref="SavedPath"/> when first asked for.</summary>
    public string? TextBody
    {
        get
        {
            if (InMemory && !_textBodyRead)
            {
                _textBody = Bodies!.TextBody;
                _textBodyRead = true;
            }
            else if (_savedFile != null && !_textBodyRead)
            {
                ReadSavedFile(withBodies: true);
            }

            return _textBody;
        }
        set
        {
            _textBody = value;
            _textBodyRead = true;
        }
    }

    /// <summary>The HTML body, decoded like <see cref="TextBody"/>.</summary>
    public string? HtmlBody
    {
        get
        {
            if (InMemory && !_htmlBodyRead)
            {
                _htmlBody = Bodies!.HtmlBody;
                _htmlBodyRead = true;
            }
            else if (_savedFile != null && !_htmlBodyRead)
            {
                ReadSavedFile(withBodies: true);
            }

            return _htmlBody;
        }
        set
        {
            _htmlBody = value;
            _htmlBodyRead = true;
        }
    }

    private MimeMessage? _bodies; // the parsed message the bodies are decoded from, or null
    private MemoryStream? _unparsed; // or the downloaded message it is parsed from when first needed
    private SavedMessageFile? _savedFile; // or the file they are read from, or null
    private string? _textBody;
    private string? _htmlBody;
    private bool _textBodyRead;
    private bool _htmlBodyRead;

    /// <summary>The parsed message (a MimeKit.MimeMessage), when the whole message was downloaded
    /// into memory, parsed when first asked for; null with -Destination (load the saved file
    /// instead) or headers only.</summary>
    public object? Message
    {
        get
        {
            if (_messagePending)
            {
                _message = Bodies;
                _messagePending = false;
            }

            return _message;
        }
        set
        {
            _message = value;
            _messagePending = false;
        }
    }

    private object? _message;
    private bool _messagePending;

    // Parses what a thread asks of the messages it reads: its buffers were a third of a parse.
    [ThreadStatic]
    private static MimeParser? _threadParser;

    private bool InMemory => _bodies != null || _unparsed != null;

    /// <summary>True while a downloaded message is held as bytes, not yet parsed.</summary>
    internal bool Unparsed => _unparsed != null;

    /// <summary>The bytes set aside for a downloaded message not yet parsed (0 once parsed).</summary>
    internal int UnparsedCapacity => _unparsed?.Capacity ?? 0;

    /// <summary>The parsed message the bodies, the attachment names and <see cref="Message"/> come
    /// from. A download is parsed here, once, on the first need: holding 10,000 parsed messages
    /// cost the garbage collector more than parsing them, and most listings never look inside.</summary>
    private MimeMessage? Bodies
    {
        get
        {
            var unparsed = _unparsed;
            if (unparsed == null)
            {
                return _bodies;
            }

            // Objects may be read from more than one runspace: one parse, one message for all.
            lock (unparsed)
            {
                if (_unparsed != null)
                {
                    unparsed.Position = 0;
                    var parser = _threadParser ??= NewParser();
                    _bodies = Parse(parser, unparsed);
                    // The parser is kept for the next message, but not the bytes of this one.
                    parser.SetStream(Stream.Null, MimeFormat.Entity, persistent: false);
                    _unparsed = null;
                }
            }

            return _bodies;
        }
    }

    public override string ToString() => $"{Uid} {Subject}";

    /// <summary>Fills the fields from a parsed message.</summary>
    internal static Pop3Message Create(Pop3Entry entry, MimeMessage parsed, bool headersOnly) =>
        new()
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
            AuthenticationMechanism = entry.AuthenticationMechanism,
            AttachmentNames = headersOnly ? TextList<string>.None : AttachmentNamesOf(parsed),
        };

    /// <summary>Fills the fields from the headers of a message saved by -Destination as
    /// <paramref name="path"/>, read from <paramref name="saved"/> (its bytes, from their start)
    /// with the fetch's reused <paramref name="parser"/>; its attachment names and bodies are read
    /// from the file when first asked for: a whole parse per saved message was most of what saving
    /// cost, and most callers never look inside. Headers only a whole parse makes sense of are
    /// parsed whole, as before.</summary>
    internal static Pop3Message CreateSaved(Pop3Entry entry, string path, MimeParser parser, Stream saved)
    {
        saved.Position = 0;
        var message = HeaderSummary.TryRead(entry, parser, saved);
        if (message == null)
        {
            saved.Position = 0;
            // From a file, the parser leaves the large parts there.
            var parsed = saved is FileStream ? Parse(saved, persistent: true) : Parse(parser, saved);
            message = Create(entry, parsed, headersOnly: true);
        }

        // The parser is kept for the next message, but not this one's stream.
        parser.SetStream(Stream.Null, MimeFormat.Entity, persistent: false);
        message.HeadersOnly = false;
        message.SavedPath = path;
        message._savedFile = new SavedMessageFile(message, -1, default);
        message._attachmentNamesPending = true;
        return message;
    }

    /// <summary>Fills the fields from the headers of a saved file (parsed as TOP n 0 gives them);
    /// its bodies and attachment names are read from the file when first asked for.</summary>
    internal static Pop3Message CreateImported(string path, long length, DateTime lastWriteUtc, string? uid, MimeMessage headers)
    {
        var message = Create(new Pop3Entry(0, length, uid), headers, headersOnly: true);
        message.HeadersOnly = false;
        message.SavedPath = path;
        message._savedFile = new SavedMessageFile(message, length, lastWriteUtc);
        message._attachmentNamesPending = true;
        return message;
    }

    /// <summary>Reads what was put off from <see cref="SavedPath"/>: the attachment names, and with
    /// <paramref name="withBodies"/> the bodies too (one parse for whatever is still missing).</summary>
    private void ReadSavedFile(bool withBodies)
    {
        _savedFile!.Read(SavedPath, withBodies, parsed =>
        {
            if (_attachmentNamesPending)
            {
                AttachmentNames = AttachmentNamesOf(parsed);
            }

            if (withBodies)
            {
                if (!_textBodyRead)
                {
                    TextBody = parsed.TextBody;
                }

                if (!_htmlBodyRead)
                {
                    HtmlBody = parsed.HtmlBody;
                }
            }
        });
    }

    private static TextList<string> AttachmentNamesOf(MimeMessage parsed) =>
        new(parsed.Attachments.Select(AttachmentName).ToArray());

    /// <summary>Fills the fields from the headers of a downloaded message in <paramref name="download"/>
    /// (read with the fetch's reused <paramref name="parser"/>), which the object keeps: the rest is
    /// parsed from it when first asked for. A message whose headers only a whole parse makes
    /// sense of is parsed at once, as before.</summary>
    internal static Pop3Message CreateInMemory(Pop3Entry entry, MimeParser parser, MemoryStream download)
    {
        download.Position = 0;
        var message = HeaderSummary.TryRead(entry, parser, download);
        if (message == null)
        {
            download.Position = 0;
            return CreateInMemory(entry, Parse(parser, download));
        }

        if (download.Capacity - download.Length > download.Length / 4 + 4096)
        {
            // A server whose LIST sizes were far off: the object keeps no more than the message.
            download.Capacity = (int)download.Length;
        }

        message.HeadersOnly = false;
        message._unparsed = download;
        message._messagePending = true;
        message._attachmentNamesPending = true;
        return message;
    }

    /// <summary>A stream to download a message of <paramref name="size"/> octets (as LIST gave it)
    /// into, to keep in its object: sized to it, so the bytes are not copied again as it grows,
    /// but never more than a bound a server's word alone can make us allocate.</summary>
    internal static MemoryStream NewDownload(long size) => new((int)Math.Min(Math.Max(size, 0), 4 * 1024 * 1024));

    /// <summary>Fills the fields from a whole message that stays in memory as <see cref="Message"/>;
    /// its bodies are decoded only when asked for.</summary>
    internal static Pop3Message CreateInMemory(Pop3Entry entry, MimeMessage parsed)
    {
        var message = Create(entry, parsed, headersOnly: true);
        message.HeadersOnly = false;
        message.AttachmentNames = AttachmentNamesOf(parsed);
        message.Message = parsed;
        message._bodies = parsed;
        return message;
    }

    /// <summary>Parses a message from a stream; with a file, large parts stay on disk.</summary>
    internal static MimeMessage Parse(Stream stream, bool persistent) =>
        new MimeParser(stream, MimeFormat.Entity, persistent).ParseMessage();

    /// <summary>A parser for <see cref="Parse(MimeParser, Stream)"/>: one per fetch instead of one
    /// per message saves its buffers (a third of what parsing a small message allocated).</summary>
    internal static MimeParser NewParser() => new(Stream.Null, MimeFormat.Entity);

    /// <summary>Parses a message from <paramref name="stream"/> with a parser used again for
    /// each message. The parser copies what it keeps, so the stream may then serve the next one.</summary>
    internal static MimeMessage Parse(MimeParser parser, Stream stream)
    {
        parser.SetStream(stream, MimeFormat.Entity, persistent: false);
        return parser.ParseMessage();
    }

    private static string AttachmentName(MimeEntity entity) =>
        entity is MimePart part ? part.FileName ?? "" : entity is MessagePart message ? (message.Message?.Subject ?? "") + ".eml" : "";
}

/// <summary>Whether a message is marked for deletion, shared by the message and the fetcher.</summary>
internal sealed class DeletionMark
{
    public bool Marked { get; set; }
}
