using System;
using System.IO;
using System.Text;
using MailProtocols.Engine.Pop3;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>Saved .eml files read back: headers at once, bodies and attachment names from the file
/// when first asked for, the UID from a name -Destination gave, and what is no mail message.</summary>
public sealed class MailFileReaderTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mfr-" + Guid.NewGuid().ToString("n"));

    private const string WithAttachment =
        "From: Ann <ann@example.com>\r\nTo: bob@example.com\r\nSubject: =?utf-8?Q?caf=C3=A9?=\r\nDate: Tue, 16 Jan 2024 10:30:00 +0000\r\n" +
        "Message-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
        "--b\r\nContent-Type: text/plain\r\n\r\nthe text\r\n--b\r\nContent-Type: application/octet-stream\r\n" +
        "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n\r\nxyz\r\n--b--\r\n";

    public MailFileReaderTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData("mock-1")]
    [InlineData("00000001575a3ba6")]
    [InlineData("UID-17")]
    [InlineData("a/b:c*?<CON>.")]
    [InlineData("con")]
    [InlineData("lpt9.x")]
    [InlineData("_41")]
    [InlineData("^a")]
    public void TheUidComesBackFromTheNameItGave(string uid) => Assert.Equal(uid, EmlFileName.ToUid(EmlFileName.FromUid(uid)));

    [Theory]
    [InlineData("Report.eml")]
    [InlineData("report 1.eml")]
    [InlineData("CON.eml")]
    [InlineData("_41.eml")] // FromUid writes 'A' as ^a
    [InlineData("_c3_a9.eml")] // hex in lower case
    [InlineData("_C3_A9.eml")] // UTF-8 of a non-ASCII character: no RFC 1939 UID
    [InlineData("x.eml.partial")]
    [InlineData(".eml")]
    [InlineData("a.EML")]
    public void ANameItCannotHaveGivenHasNoUid(string name) => Assert.Null(EmlFileName.ToUid(name));

    [Theory]
    [InlineData("From: a@b.c\r\nSubject: s\r\n\r\nBODY", "From: a@b.c\r\nSubject: s\r\n\r\n")]
    [InlineData("From: a@b.c\nSubject: s\n\nBODY", "From: a@b.c\nSubject: s\n\n")]
    [InlineData("From: a@b.c\r\n folded\r\n\r\nBODY\r\n\r\nmore", "From: a@b.c\r\n folded\r\n\r\n")]
    [InlineData("\r\nBODY", "\r\n")]
    [InlineData("Subject: no blank line", "Subject: no blank line")]
    public void TheHeaderBlockStreamEndsAtTheBlankLine(string text, string expected)
    {
        foreach (var chunk in new[] { 1, 2, 3, 4096 })
        {
            var stream = new HeaderBlockStream(new MemoryStream(Encoding.ASCII.GetBytes(text)));
            var read = new MemoryStream();
            var buffer = new byte[chunk];
            int n;
            while ((n = stream.Read(buffer, 0, chunk)) > 0)
            {
                read.Write(buffer, 0, n);
            }

            Assert.Equal(expected, Encoding.ASCII.GetString(read.ToArray()));
        }
    }

    [Fact]
    public void HeadersNowBodiesAndNamesFromTheFileWhenAsked()
    {
        var path = Write("mock-7.eml", WithAttachment);
        var message = new MailFileReader().Read(path);

        Assert.Equal("mock-7", message.Uid);
        Assert.Equal(path, message.SavedPath);
        Assert.Equal(new FileInfo(path).Length, message.Size);
        Assert.Equal("café", message.Subject);
        Assert.Equal("m1@example.com", message.MessageId);
        Assert.Equal(new DateTimeOffset(2024, 1, 16, 10, 30, 0, TimeSpan.Zero), message.Date);
        Assert.False(message.HeadersOnly);
        Assert.Null(message.Message);

        Assert.Equal(new[] { "résumé.pdf" }, message.AttachmentNames);
        Assert.Equal("the text", message.TextBody!.Trim());
        Assert.Null(message.HtmlBody);
    }

    [Fact]
    public void NothingOfTheBodyIsReadAtImport()
    {
        var path = Write("lazy.eml", WithAttachment);
        var message = new MailFileReader().Read(path);
        File.Delete(path);

        Assert.Equal("café", message.Subject);
        var error = Assert.Throws<MailOperationException>(() => message.TextBody);
        Assert.Equal("MessageFileNotFound", error.ErrorId);
        Assert.Equal(path, error.Target);
        Assert.Contains(path, error.Message);
        Assert.Equal("MessageFileNotFound", Assert.Throws<MailOperationException>(() => message.AttachmentNames).ErrorId);
    }

    [Fact]
    public void AFileChangedSinceIsRefused()
    {
        var path = Write("changed.eml", WithAttachment);
        var message = new MailFileReader().Read(path);
        var time = File.GetLastWriteTimeUtc(path);
        File.WriteAllText(path, WithAttachment.Replace("Subject: =?utf-8?Q?caf=C3=A9?=", "Subject: =?utf-8?Q?caf=C3=A8?="));
        File.SetLastWriteTimeUtc(path, time);

        var error = Assert.Throws<MailOperationException>(() => message.TextBody);
        Assert.Equal("MessageFileChanged", error.ErrorId);
        Assert.DoesNotContain("MimeKit", error.Message);
    }

    [Fact]
    public void ASavedMessageWhoseFileNowHoldsAnotherIsRefused()
    {
        // As Get-Pop3Message -Destination makes it: no size or time to compare, only the headers.
        var path = Write("mock-9.eml", WithAttachment);
        var saved = Pop3Message.CreateSaved(new Pop3Entry(9, 100, "mock-9"), path, Pop3Message.NewParser(), new MemoryStream(File.ReadAllBytes(path)));
        Assert.Equal("the text", saved.TextBody!.Trim());

        var other = Pop3Message.CreateSaved(new Pop3Entry(9, 100, "mock-9"), path, Pop3Message.NewParser(), new MemoryStream(File.ReadAllBytes(path)));
        File.WriteAllText(path, WithAttachment.Replace("<m1@example.com>", "<m2@example.com>"));
        Assert.Equal("MessageFileChanged", Assert.Throws<MailOperationException>(() => other.TextBody).ErrorId);
    }

    [Fact]
    public void ABodySetBeforeItWasReadIsKept()
    {
        var message = new MailFileReader().Read(Write("set.eml", WithAttachment));
        message.TextBody = "mine";
        Assert.Equal("mine", message.TextBody);
        Assert.Null(message.HtmlBody);
    }

    [Theory]
    [InlineData("empty", "", "it is empty")]
    [InlineData("text", "hello world\nsecond line\n", "does not begin with mail header fields")]
    [InlineData("csv", "name,value\na,1\n", "does not begin with mail header fields")]
    [InlineData("note", "Note: buy milk\n", "none of the fields a message has")]
    [InlineData("blank", "\r\n\r\nbody\r\n", "none of the fields a message has")]
    public void WhatIsNoMailMessage(string name, string text, string why)
    {
        var path = Write(name + ".eml", text);
        var error = Assert.Throws<MailOperationException>(() => new MailFileReader().Read(path));
        Assert.Equal("NotAMailMessage", error.ErrorId);
        Assert.Equal(MailErrorKind.InvalidData, error.Kind);
        Assert.Equal(path, error.Target);
        Assert.Contains(why, error.Message);
    }

    [Fact]
    public void ABinaryFileIsNoMailMessage()
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        var path = Write("random.eml", bytes);
        Assert.Equal("NotAMailMessage", Assert.Throws<MailOperationException>(() => new MailFileReader().Read(path)).ErrorId);
        path = Write("png.eml", new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D });
        Assert.Equal("NotAMailMessage", Assert.Throws<MailOperationException>(() => new MailFileReader().Read(path)).ErrorId);
    }

    [Fact]
    public void AMissingFileIsPathNotFound()
    {
        var error = Assert.Throws<MailOperationException>(() => new MailFileReader().Read(Path.Combine(_folder, "none.eml")));
        Assert.Equal("PathNotFound", error.ErrorId);
    }

    [Fact]
    public void OneReaderReadsManyFiles()
    {
        var reader = new MailFileReader();
        var first = reader.Read(Write("one.eml", "From: a@example.com\r\nSubject: one\r\n\r\nbody one\r\n"));
        var second = reader.Read(Write("two.eml", "From: b@example.com\r\nSubject: two\r\n\r\nbody two\r\n"));
        Assert.Equal("one", first.Subject);
        Assert.Equal("two", second.Subject);
        Assert.Equal("body one", first.TextBody!.Trim());
        Assert.Equal("body two", second.TextBody!.Trim());
    }
}
