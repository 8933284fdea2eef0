using System;
using System.Linq;
using System.IO;
using System.Text;
using MailProtocols.Engine.Pop3;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>The output object of a whole message read into memory: one parser serves every
/// message of a fetch, and the bodies are decoded from the held message only when asked for.</summary>
public sealed class Pop3MessageTests
{
    private static MemoryStream Raw(string text) => new(Encoding.ASCII.GetBytes(text.Replace("\n", "\r\n")));

    private const string Alternative =
        "From: Ann <ann@example.com>\nTo: bob@example.com\nSubject: Both\nMIME-Version: 1.0\n" +
        "Content-Type: multipart/alternative; boundary=\"b\"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\nplain text\n" +
        "--b\nContent-Type: text/html; charset=utf-8\n\n<p>html text</p>\n--b--\n";

    private const string Plain =
        "From: Carl <carl@example.com>\nTo: dora@example.com\nCc: eve@example.com\nSubject: Second\n\nsecond body\n";

    [Fact]
    public void OneParserReadsEachMessageOfTheFetchOnItsOwn()
    {
        var parser = Pop3Message.NewParser();
        var buffer = Raw(Alternative);
        var first = Pop3Message.Parse(parser, buffer);
        buffer.SetLength(0);
        Raw(Plain).CopyTo(buffer);
        buffer.Position = 0;
        var second = Pop3Message.Parse(parser, buffer);

        Assert.Equal("Both", first.Subject);
        Assert.Equal("plain text", first.TextBody!.TrimEnd());
        Assert.Equal("Second", second.Subject);
        Assert.Equal("second body", second.TextBody!.TrimEnd());
        Assert.Single(second.Cc);
    }

    [Fact]
    public void BodiesComeFromTheHeldMessageWhenAskedFor()
    {
        var parsed = Pop3Message.Parse(Raw(Alternative), persistent: false);
        var message = Pop3Message.CreateInMemory(new Pop3Entry(1, 300, "u1"), parsed);

        Assert.False(message.HeadersOnly);
        Assert.Same(parsed, message.Message);
        Assert.Equal(parsed.From.ToString(), message.From);
        Assert.Equal(parsed.TextBody, message.TextBody);
        Assert.Equal(parsed.HtmlBody, message.HtmlBody);
        Assert.Equal("plain text", message.TextBody!.TrimEnd());
        Assert.Contains("<p>html text</p>", message.HtmlBody);

        message.TextBody = "replaced";
        message.HtmlBody = null;
        Assert.Equal("replaced", message.TextBody);
        Assert.Null(message.HtmlBody);
    }

    [Fact]
    public void ABodySetBeforeItWasReadIsNotOverwritten()
    {
        var message = Pop3Message.CreateInMemory(new Pop3Entry(1, 300, "u1"), Pop3Message.Parse(Raw(Plain), persistent: false));
        message.TextBody = null;
        Assert.Null(message.TextBody);
    }
}

/// <summary>A downloaded message (-IncludeBody) is held as its bytes with the header fields filled
/// in; the rest is parsed on first need, and every property is then what a whole parse gave.</summary>
public sealed class DownloadedPop3MessageTests
{
    private static MemoryStream Download(string text, long? listedSize = null)
    {
        var bytes = Encoding.UTF8.GetBytes(text.Replace("\n", "\r\n"));
        var download = Pop3Message.NewDownload(listedSize ?? bytes.Length);
        download.Write(bytes, 0, bytes.Length);
        download.Position = 0;
        return download;
    }

    private const string PlainText =
        "From: Carl <carl@example.com>\nTo: dora@example.com\nCc: eve@example.com\nSubject: Second\nDate: Mon, 15 Jan 2024 09:01:00 +0000\nMessage-ID: <2@example.com>\n\nsecond body\n";

    private const string Alternative =
        "From: Ann <ann@example.com>\nTo: bob@example.com\nSubject: Both\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\nplain text\n--b\nContent-Type: text/html; charset=utf-8\n\n<p>html text</p>\n--b--\n";

    private const string Attachments =
        "From: a@example.com\nSubject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"m\"\n\n--m\nContent-Type: text/plain\n\nsee attached\n--m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--m\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\nFrom: inner@example.com\nSubject: Inner\n\ninner body\n--m--\n";

    private const string BadAddress =
        "From: Ann <ann@example.com>\nTo: good@example.com, <<broken@@, other@example.com\nSubject: bad\n\nbody\n";

    private const string NoHeaders =
        "\nonly a body\n";

    public static TheoryData<string, string> Messages => new()
    {
        { "plain", PlainText },
        { "alternative", Alternative },
        { "attachments", Attachments },
        { "an address that does not parse", BadAddress },
        { "no headers at all", NoHeaders },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void EveryPropertyIsWhatAWholeParseGives(string name, string text)
    {
        var entry = new Pop3Entry(3, 999, "u3");
        var expected = Pop3Message.CreateInMemory(entry, Pop3Message.Parse(Download(text), persistent: false));

        // The fetch's parser, used for another message first.
        var parser = Pop3Message.NewParser();
        Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), parser, Download("From: other@example.com\nSubject: before\n\nx\n"));
        var actual = Pop3Message.CreateInMemory(entry, parser, Download(text));

        Assert.True(name.Length > 0);
        SameHeaderFields.Assert(expected, actual);
        Assert.False(actual.HeadersOnly);
        Assert.Equal(expected.AttachmentNames, actual.AttachmentNames);
        Assert.Equal(expected.TextBody, actual.TextBody);
        Assert.Equal(expected.HtmlBody, actual.HtmlBody);
        var parsed = Assert.IsType<MimeKit.MimeMessage>(actual.Message);
        Assert.Equal(((MimeKit.MimeMessage)expected.Message!).Subject, parsed.Subject);
        Assert.Equal(((MimeKit.MimeMessage)expected.Message!).BodyParts.Count(), parsed.BodyParts.Count());
        Assert.Same(parsed, actual.Message);
    }

    [Fact]
    public void TheAttachmentNamesOfAMultipartMessageAreDecoded()
    {
        var message = Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), Pop3Message.NewParser(), Download(Attachments));
        Assert.Equal(new[] { "r\u00e9sum\u00e9.pdf", "Inner.eml" }, message.AttachmentNames);
    }

    [Fact]
    public void NothingIsParsedUntilAskedForAndThenOnce()
    {
        var message = Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), Pop3Message.NewParser(), Download(Alternative));
        Assert.True(message.Unparsed);
        Assert.Equal("Both", message.Subject);
        Assert.True(message.Unparsed);

        Assert.Equal("plain text", message.TextBody!.TrimEnd());
        Assert.False(message.Unparsed);
        Assert.Equal(0, message.UnparsedCapacity);
        var parsed = message.Message;
        Assert.Contains("<p>html text</p>", message.HtmlBody);
        Assert.Same(parsed, message.Message);
    }

    [Fact]
    public void EachPropertyAloneParsesTheMessage()
    {
        var parser = Pop3Message.NewParser();
        var text = Attachments;
        Assert.Equal(2, Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), parser, Download(text)).AttachmentNames.Count);
        Assert.Equal("Gr\u00fc\u00dfe", ((MimeKit.MimeMessage)Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), parser, Download(text)).Message!).Subject);
        Assert.Equal("see attached", Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), parser, Download(text)).TextBody!.TrimEnd());
        Assert.Null(Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), parser, Download(text)).HtmlBody);
    }

    [Fact]
    public void ValuesSetBeforeTheParseStay()
    {
        var message = Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), Pop3Message.NewParser(), Download(Attachments));
        message.Message = null;
        message.TextBody = "mine";
        message.AttachmentNames = new TextList<string>(new[] { "x" });
        Assert.Null(message.Message);
        Assert.Equal("mine", message.TextBody);
        Assert.Equal(new[] { "x" }, message.AttachmentNames);
        Assert.Null(message.HtmlBody);
    }

    [Fact]
    public void AMessageWhoseHeadersNeedAWholeParseIsParsedAtOnce()
    {
        var message = Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), Pop3Message.NewParser(), Download(BadAddress));
        Assert.False(message.Unparsed);
        Assert.Equal("body", message.TextBody!.TrimEnd());
    }

    [Fact]
    public void ThreadsAskingAtOnceGetOneParsedMessage()
    {
        for (var round = 0; round < 20; round++)
        {
            var message = Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), Pop3Message.NewParser(), Download(Attachments));
            using var start = new System.Threading.ManualResetEventSlim();
            var seen = new object?[8];
            var failures = new System.Collections.Concurrent.ConcurrentBag<Exception>();
            var threads = Enumerable.Range(0, seen.Length).Select(i => new System.Threading.Thread(() =>
            {
                start.Wait();
                try
                {
                    seen[i] = message.Message;
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            start.Set();
            threads.ForEach(t => t.Join());
            Assert.Empty(failures);
            Assert.All(seen, m => Assert.Same(seen[0], m));
            Assert.NotNull(seen[0]);
        }
    }

    [Fact]
    public void AMessageHoldsNoMoreThanItsBytesWhateverLISTSaid()
    {
        var text = PlainText;
        var overstated = Pop3Message.CreateInMemory(new Pop3Entry(1, 1, "u1"), Pop3Message.NewParser(), Download(text, listedSize: 3_000_000));
        Assert.InRange(overstated.UnparsedCapacity, 1, 1024);
        Assert.Equal(4 * 1024 * 1024, Pop3Message.NewDownload(long.MaxValue).Capacity);
        Assert.Equal(0, Pop3Message.NewDownload(-1).Capacity);
        Assert.Equal("second body", overstated.TextBody!.TrimEnd());
    }
}
