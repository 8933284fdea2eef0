using System;
using System.IO;
using System.Text;
using MailProtocols.Engine.Pop3;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>A message saved by -Destination: its object is made from the header block alone, and
/// its attachment names and bodies are read from the saved file when first asked for, each then
/// what a whole parse of the message gives.</summary>
public sealed class SavedPop3MessageTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "spm-" + Guid.NewGuid().ToString("n"));

    public SavedPop3MessageTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private const string Attachments =
        "From: a@example.com\nTo: Bob <bob@example.com>\nSubject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\nDate: Mon, 15 Jan 2024 09:01:00 +0000\nMessage-ID: <3@example.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"m\"\n\n--m\nContent-Type: text/plain\n\nsee attached\n--m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--m\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\nFrom: inner@example.com\nSubject: Inner\n\ninner body\n--m--\n";

    private const string Alternative =
        "From: Ann <ann@example.com>\nTo: bob@example.com\nCc: eve@example.com\nSubject: Both\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\nplain text\n--b\nContent-Type: text/html; charset=utf-8\n\n<p>html text</p>\n--b--\n";

    // Headers only a whole parse makes sense of: the object is made from that parse.
    private const string BadAddress =
        "From: Ann <ann@example.com>\nTo: good@example.com, <<broken@@, other@example.com\nSubject: bad\nContent-Type: multipart/mixed; boundary=\"m\"\n\n--m\nContent-Type: text/plain\n\nbody\n--m\nContent-Type: text/csv; name=a.csv\nContent-Disposition: attachment; filename=a.csv\n\nx\n--m--\n";

    public static TheoryData<string, string, bool> Messages => new()
    {
        { "attachments", Attachments, false },
        { "attachments", Attachments, true },
        { "alternative", Alternative, false },
        { "an address that does not parse", BadAddress, false },
        { "an address that does not parse", BadAddress, true },
    };

    private string Save(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes(text.Replace("\n", "\r\n")));
        return path;
    }

    /// <summary>As SaveBatch makes it: from the bytes kept in memory, or from the file a large
    /// message was streamed into.</summary>
    private static Pop3Message CreateSaved(Pop3Entry entry, string path, MimeKit.MimeParser parser, bool fromFile)
    {
        using Stream saved = fromFile
            ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)
            : new MemoryStream(File.ReadAllBytes(path));
        saved.Position = saved.Length; // where the download left it
        return Pop3Message.CreateSaved(entry, path, parser, saved);
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void EveryPropertyIsWhatAWholeParseGives(string name, string text, bool fromFile)
    {
        var path = Save("u3.eml", text);
        var entry = new Pop3Entry(3, 999, "u3");
        var expected = Pop3Message.CreateInMemory(entry, Pop3Message.Parse(new MemoryStream(File.ReadAllBytes(path)), persistent: false));

        // The fetch's parser, used for another message first.
        var parser = Pop3Message.NewParser();
        CreateSaved(new Pop3Entry(1, 1, "u1"), Save("u1.eml", "From: other@example.com\nSubject: before\n\nx\n"), parser, fromFile);
        var actual = CreateSaved(entry, path, parser, fromFile);

        Assert.True(name.Length > 0);
        SameHeaderFields.Assert(expected, actual);
        Assert.Equal(path, actual.SavedPath);
        Assert.False(actual.HeadersOnly);
        Assert.Null(actual.Message);
        Assert.Equal(expected.AttachmentNames, actual.AttachmentNames);
        Assert.Equal(expected.TextBody, actual.TextBody);
        Assert.Equal(expected.HtmlBody, actual.HtmlBody);
    }

    [Fact]
    public void TheAttachmentNamesAreReadFromTheFileWhenFirstAskedFor()
    {
        var path = Save("u1.eml", Attachments);
        var message = CreateSaved(new Pop3Entry(1, 1, "u1"), path, Pop3Message.NewParser(), fromFile: false);
        File.Delete(path);

        Assert.Equal("Gr\u00fc\u00dfe", message.Subject);
        Assert.Equal("MessageFileNotFound", Assert.Throws<MailOperationException>(() => message.AttachmentNames).ErrorId);
    }
}
