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
