using System;
using System.IO;
using System.Threading;
using MailProtocols.Engine.Smtp;
using MimeKit;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class MessageDataTests
{
    private static MimeMessage Message(int bodyLength)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("a@example.com"));
        message.To.Add(MailboxAddress.Parse("b@example.com"));
        message.Body = new TextPart("plain") { Text = new string('x', bodyLength) };
        return message;
    }

    [Theory]
    [InlineData(+1)]
    [InlineData(+5000)]
    [InlineData(-1)]
    [InlineData(-5000)]
    public void AMessageThatChangedSinceItWasCountedNeverGoesOutInFullLength(int change)
    {
        // Over the buffer limit, the message is serialized again as it is sent.
        var mime = Message(MessageData.BufferLimit + 1000);
        using var data = MessageData.Serialize(mime, FormatOptions.Default, CancellationToken.None);
        ((TextPart)mime.Body!).Text = new string('x', MessageData.BufferLimit + 1000 + change);
        var sent = new MemoryStream();

        Assert.Throws<MessageSourceException>(() => data.WriteTo(sent, CancellationToken.None));

        // Fewer bytes than BDAT announced: the server still waits for the rest, and takes none of
        // it as a command or as a complete message.
        Assert.True(sent.Length < data.Length, $"{sent.Length} bytes went out of the {data.Length} announced");
    }

    [Fact]
    public void AnUnchangedLargeMessageGoesOutExactlyAsCounted()
    {
        var mime = Message(MessageData.BufferLimit + 1000);
        using var data = MessageData.Serialize(mime, FormatOptions.Default, CancellationToken.None);
        var sent = new MemoryStream();

        data.WriteTo(sent, CancellationToken.None);

        Assert.Equal(data.Length, sent.Length);
    }
}
