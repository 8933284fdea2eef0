using System;
using System.IO;
using System.Text;
using MailProtocols.Engine.Pop3;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>The listing reads a header block without building a MimeMessage: every field must be
/// what the MimeMessage's getters give for the same block, odd blocks included.</summary>
public sealed class HeaderSummaryTests
{
    public static TheoryData<string, string> Blocks => new()
    {
        { "plain", "From: Ann <ann@example.com>\nTo: bob@example.com\nCc: Eve <eve@example.com>, fred@example.com\nSubject: Hello\nDate: Mon, 15 Jan 2024 09:01:00 +0000\nMessage-ID: <1.real@example.com>\n\n" },
        { "encoded words", "From: =?utf-8?B?SsO8cmdlbg==?= <j@example.com>\nTo: =?iso-8859-1?Q?Andr=E9?= <a@example.com>\nSubject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?= and more\n\n" },
        { "folded and quoted", "From: \"Doe, John\" <john@example.com>\nTo: a@example.com,\n b@example.com,\n\t\"C (see)\" <c@example.com>\nSubject: a long\n subject folded\n\n" },
        { "a group", "From: x@example.com\nTo: Team: a@example.com, b@example.com;, solo@example.com\nSubject: group\n\n" },
        { "two From headers", "From: first@example.com\nFrom: Second <second@example.com>\nTo: t@example.com\n\n" },
        { "two of each single header", "Subject: first\nDate: Mon, 15 Jan 2024 09:01:00 +0000\nMessage-ID: <1@example.com>\nSubject: second\nDate: Tue, 16 Jan 2024 09:01:00 +0000\nMessage-ID: <2@example.com>\nFrom: a@example.com\n\n" },
        { "no headers of note", "X-Other: 1\n\n" },
        { "no Subject, no Date, no Message-ID", "From: a@example.com\n\n" },
        { "a Date that does not parse", "From: a@example.com\nDate: sometime soon\nDate: Mon, 15 Jan 2024 09:01:00 +0000\n\n" },
        { "a Message-ID without brackets", "From: a@example.com\nMessage-ID: bare@example.com\n\n" },
        { "an empty Message-ID", "From: a@example.com\nMessage-ID:\n\n" },
        { "an address that does not parse", "From: Ann <ann@example.com>\nTo: good@example.com, <<broken@@, other@example.com\nSubject: bad\n\n" },
        { "an empty Cc", "From: a@example.com\nCc:\nSubject: empty\n\n" },
        { "an empty block", "\n" },
        { "8-bit text", "From: J\u00fcrgen <j@example.com>\nSubject: Gr\u00fc\u00dfe\n\n" },
        { "names in other cases", "FROM: a@example.com\nsubject: lower\nMESSAGE-ID: <x@example.com>\ncC: c@example.com\nDATE: Mon, 15 Jan 2024 09:01:00 +0000\nto: t@example.com\n\n" },
        { "names that look alike", "X-From: x@example.com\nTox: t@example.com\nFrom: a@example.com\nSubjects: no\nMessage-IDs: <no@example.com>\n\n" },
        { "many other headers", "Return-Path: <a@example.com>\nReceived: from mx (mx [10.0.0.1])\n\tby host; Mon, 15 Jan 2024 09:01:00 +0000\nDKIM-Signature: v=1; a=rsa-sha256;\n b=abc\nFrom: a@example.com\nTo: b@example.com\nSubject: s\nContent-Type: text/plain\n\n" },
        { "a body after the block", "From: a@example.com\nSubject: s\n\nTo: not-a-header@example.com\nSubject: body text\n" },
        { "a line without a colon", "From: a@example.com\nJunk line\nSubject: after\n\n" },
        { "a blank folded line", "From: a@example.com\nSubject: a\n \nTo: b@example.com\n\n" },
        { "a space before the colon", "Subject : spaced\nFrom: a@example.com\n\n" },
        { "no blank line at the end", "From: a@example.com\nSubject: s" },
    };

    /// <summary>The block as a listing holds it: in a stream whose buffer can be read directly
    /// (read without the parser where it is plain), or in one whose buffer cannot.</summary>
    private static MemoryStream Raw(string text, bool visible = false)
    {
        var bytes = Encoding.UTF8.GetBytes(text.Replace("\n", "\r\n"));
        return new MemoryStream(bytes, 0, bytes.Length, writable: false, publiclyVisible: visible);
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void TheFieldsAreThoseOfTheParsedMessage(string name, string block)
    {
        foreach (var visible in new[] { true, false })
        {
            FieldsAreThoseOfTheParsedMessage(name, block, visible);
        }
    }

    private static void FieldsAreThoseOfTheParsedMessage(string name, string block, bool visible)
    {
        var entry = new Pop3Entry(7, 1234, "u7") { AuthenticationMechanism = "GSSAPI" };
        var expected = Pop3Message.Create(entry, Pop3Message.Parse(Raw(block), persistent: false), headersOnly: true);

        // A parser used for other blocks first, as in a listing.
        var parser = Pop3Message.NewParser();
        HeaderSummary.Read(new Pop3Entry(1, 1, "u1"), parser, Raw("From: other@example.com\nSubject: before\n\n", visible));
        var actual = HeaderSummary.Read(entry, parser, Raw(block, visible));

        Assert.True(name.Length > 0);
        SameHeaderFields.Assert(expected, actual);
        Assert.Equal("GSSAPI", expected.AuthenticationMechanism);
        Assert.Equal(expected.AuthenticationMechanism, actual.AuthenticationMechanism);
        Assert.True(actual.HeadersOnly);
        Assert.Empty(actual.AttachmentNames);
        Assert.Null(actual.Message);
        Assert.Null(actual.TextBody);
    }

    [Fact]
    public void AReusedCopyIsReadOnlyUpToItsLength()
    {
        // The download keeps each message in one MemoryStream, emptied for the next: what a longer
        // message left beyond the current one's end is not part of its header block.
        var copy = new MemoryStream();
        var earlier = Encoding.ASCII.GetBytes("Subject: old\r\nFrom: left@example.com\r\n\r\nbody\r\n");
        copy.Write(earlier, 0, earlier.Length);
        copy.SetLength(0);
        var current = Encoding.ASCII.GetBytes("Subject: new\r\n");
        copy.Write(current, 0, current.Length);
        copy.Position = 0;

        var entry = new Pop3Entry(2, current.Length, "u2");
        var expected = Pop3Message.Create(entry, Pop3Message.Parse(new MemoryStream(current), persistent: false), headersOnly: true);
        var actual = HeaderSummary.Read(entry, Pop3Message.NewParser(), copy);

        SameHeaderFields.Assert(expected, actual);
        Assert.DoesNotContain("left@", actual.From);
    }

    [Fact]
    public void AWellFormedBlockIsReadWithoutAMimeMessageAndAnOddOneIsNot()
    {
        var parser = Pop3Message.NewParser();
        parser.SetStream(Raw("From: Ann <ann@example.com>\nTo: b@example.com\n\n"), MimeKit.MimeFormat.Entity);
        Assert.NotNull(HeaderSummary.FromHeaders(new Pop3Entry(1, 1, "u1"), parser.ParseHeaders()));

        parser.SetStream(Raw("From: Ann <ann@example.com>\nTo: good@example.com, <<broken@@\n\n"), MimeKit.MimeFormat.Entity);
        Assert.Null(HeaderSummary.FromHeaders(new Pop3Entry(1, 1, "u1"), parser.ParseHeaders()));
    }
}
