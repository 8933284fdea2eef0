using System.IO;
using System.Linq;
using MailProtocols.Engine;
using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class MessageComposerTests
{
    private static OutgoingMessage Message() => new() { From = "ops@example.com", To = new[] { "a@example.com" }, Subject = "s" };

    private static MailOperationException Fails(OutgoingMessage message) =>
        Assert.Throws<MailOperationException>(() => MessageComposer.Compose(message).Dispose());

    [Theory]
    [InlineData("a@example.com", new[] { "a@example.com" })]
    [InlineData("Ann <a@example.com>", new[] { "a@example.com" })]
    [InlineData("a@example.com, b@example.com", new[] { "a@example.com", "b@example.com" })]
    [InlineData("\"Doe, John\" <j@example.com>", new[] { "j@example.com" })]
    public void ParsesAddressEntries(string entry, string[] expected)
    {
        var parsed = MessageComposer.ParseAddresses(new[] { entry }, "To");
        Assert.Equal(expected, parsed.Select(m => m.Address));
    }

    [Theory]
    [InlineData("not an address")]
    [InlineData("bad@@example.com")]
    [InlineData("nodomain@")]
    [InlineData("@nolocal.example")]
    [InlineData("a@example.com\r\nBcc: x@example.com")]
    [InlineData("a@example.com\0")]
    [InlineData("Group: a@example.com;")]
    public void RejectsBadAddressesWithTheEntryAsTarget(string entry)
    {
        var message = Message();
        message.To = new[] { entry };
        var error = Fails(message);
        Assert.Equal("InvalidAddress", error.ErrorId);
        Assert.Equal(MailErrorKind.InvalidArgument, error.Kind);
        Assert.Equal(entry, error.Target);
    }

    [Fact]
    public void KeepsBccOutOfTheHeadersButInTheEnvelope()
    {
        var message = Message();
        message.Bcc = new[] { "hidden@example.com" };
        using var composed = MessageComposer.Compose(message);
        Assert.Contains(composed.Recipients, r => r.Address == "hidden@example.com");
        Assert.Empty(composed.Mime.Bcc);
        Assert.Null(composed.Mime.Headers["Bcc"]);
    }

    [Fact]
    public void ListsEachEnvelopeRecipientOnce()
    {
        var message = Message();
        message.To = new[] { "a@example.com", "A@Example.com" };
        message.Cc = new[] { "a@example.com" };
        using var composed = MessageComposer.Compose(message);
        Assert.Single(composed.Recipients);
    }

    [Fact]
    public void NeedsARecipient()
    {
        var message = Message();
        message.To = new string[0];
        Assert.Equal("NoRecipient", Fails(message).ErrorId);
    }

    [Theory]
    [InlineData("Subject\r\nBcc: x@example.com", "InvalidSubject")]
    [InlineData("Bell\a", "InvalidSubject")]
    public void RejectsControlCharactersInTheSubject(string subject, string errorId)
    {
        var message = Message();
        message.Subject = subject;
        Assert.Equal(errorId, Fails(message).ErrorId);
    }

    [Theory]
    [InlineData("X-Ok", "line\r\nBcc: x@example.com", "InvalidHeaderValue")]
    [InlineData("Bad Name", "v", "InvalidHeaderName")]
    [InlineData("Bad:Name", "v", "InvalidHeaderName")]
    [InlineData("Bcc", "x@example.com", "ReservedHeader")]
    [InlineData("content-type", "text/html", "ReservedHeader")]
    public void RejectsHeadersThatWouldLieOrInject(string name, string value, string errorId)
    {
        var message = Message();
        message.Headers[name] = value;
        Assert.Equal(errorId, Fails(message).ErrorId);
    }

    [Fact]
    public void ReportsAMissingAttachmentWithItsPath()
    {
        var message = Message();
        var path = Path.Combine(Path.GetTempPath(), "mailprotocols-missing-" + System.Guid.NewGuid());
        message.Attachments = new[] { path };
        var error = Fails(message);
        Assert.Equal("AttachmentNotFound", error.ErrorId);
        Assert.Equal(MailErrorKind.ObjectNotFound, error.Kind);
        Assert.Equal(path, error.Target);
    }

    [Fact]
    public void NeedsHtmlForInlineImages()
    {
        var message = Message();
        message.InlineImages["logo"] = "/does/not/matter.png";
        Assert.Equal("InlineImageWithoutHtml", Fails(message).ErrorId);
    }

    [Fact]
    public void StreamsAttachmentsAndClosesThemWhenDisposed()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "content");
            var message = Message();
            message.Attachments = new[] { path };
            var composed = MessageComposer.Compose(message);
            Assert.Throws<IOException>(() => new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None).Dispose());
            composed.Dispose();
            new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None).Dispose();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void WritesTheHeadersInTheOrderMimeKitsOwnMessageStartsWith()
    {
        var message = Message();
        message.Subject = null;
        message.Cc = new[] { "c@example.com" };
        message.ReplyTo = new[] { "r@example.com" };
        using var composed = MessageComposer.Compose(message);
        Assert.Equal(new[] { "From", "Date", "Subject", "Message-Id", "To", "Cc", "Reply-To" }, composed.Mime.Headers.Select(h => h.Field));
        Assert.Equal("", composed.Mime.Subject);
    }

    [Fact]
    public void GivesEachMessageItsOwnIdAtTheHostNameMimeKitWouldUse()
    {
        var mimeKits = MimeKit.Utils.MimeUtils.GenerateMessageId();
        var domain = mimeKits.Substring(mimeKits.LastIndexOf('@'));
        var ids = Enumerable.Range(0, 1000).Select(_ => MessageIds.Next()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}" + System.Text.RegularExpressions.Regex.Escape(domain) + "$", id));

        using var composed = MessageComposer.Compose(Message());
        Assert.EndsWith(domain, composed.Mime.MessageId);
    }

    [Fact]
    public void DisposesTheMimeMessageSoThatNoFinalizerKeepsItAlive()
    {
        var composed = MessageComposer.Compose(Message());
        var body = Assert.IsType<MimeKit.TextPart>(composed.Mime.Body);
        composed.Dispose();
        Assert.Throws<System.ObjectDisposedException>(() => body.ContentTransferEncoding);

        // Error texts made after the outcome still read the message's own fields.
        Assert.False(string.IsNullOrEmpty(composed.Mime.MessageId));
        Assert.Equal("s", composed.Mime.Subject);
    }
}
