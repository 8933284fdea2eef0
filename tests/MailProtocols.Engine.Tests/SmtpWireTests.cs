using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class SmtpWireTests
{
    private static (SmtpWire Wire, MemoryStream Sent) Wire(string serverText = "")
    {
        var settings = new ConnectionSettings { Host = "test", Port = 25 };
        var wire = new SmtpWire(settings, new ProtocolTap(null), Connector.Validator(settings));
        var stream = new DuplexStream(Encoding.ASCII.GetBytes(serverText));
        wire.UseStream(stream);
        return (wire, stream.Sent);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(1000)]
    public void DotStuffsEveryLineThatStartsWithADotWhereverTheWritesSplitIt(int chunk)
    {
        const string message = ".first\r\nplain\r\n..two\r\nmid.dle\r\n.\r\nlast";
        var (wire, sent) = Wire();
        var writer = new SmtpWire.DataWriter(wire, dotStuffed: true);
        var bytes = Encoding.ASCII.GetBytes(message);
        for (var i = 0; i < bytes.Length; i += chunk)
        {
            writer.Write(bytes, i, Math.Min(chunk, bytes.Length - i));
        }

        writer.Terminate();
        wire.Flush();

        Assert.Equal("..first\r\nplain\r\n...two\r\nmid.dle\r\n..\r\nlast\r\n.\r\n", Encoding.ASCII.GetString(sent.ToArray()));
    }

    [Fact]
    public void EndsDataThatEndsWithALineBreakWithTheDotLineAlone()
    {
        var (wire, sent) = Wire();
        var writer = new SmtpWire.DataWriter(wire, dotStuffed: true);
        var bytes = Encoding.ASCII.GetBytes("a\r\n");
        writer.Write(bytes, 0, bytes.Length);
        writer.Terminate();
        wire.Flush();

        Assert.Equal("a\r\n.\r\n", Encoding.ASCII.GetString(sent.ToArray()));
    }

    [Fact]
    public void SendsChunkDataAsItIs()
    {
        var (wire, sent) = Wire();
        var writer = new SmtpWire.DataWriter(wire, dotStuffed: false);
        var bytes = Encoding.ASCII.GetBytes(".a\r\n.\r\n");
        writer.Write(bytes, 0, bytes.Length);
        wire.Flush();

        Assert.Equal(".a\r\n.\r\n", Encoding.ASCII.GetString(sent.ToArray()));
    }

    [Fact]
    public void ReadsMultiLineReplies()
    {
        var (wire, _) = Wire("250-mock.test Hello\r\n250-PIPELINING\r\n250 CHUNKING\r\n354 go ahead\r\n");

        var first = wire.ReadReply(CancellationToken.None);
        var second = wire.ReadReply(CancellationToken.None);

        Assert.Equal(250, first.Code);
        Assert.Equal(new[] { "mock.test Hello", "PIPELINING", "CHUNKING" }, first.Text.Split('\n'));
        Assert.Equal(354, second.Code);
    }

    [Theory]
    [InlineData("hello\r\n")]
    [InlineData("25 short\r\n")]
    [InlineData("250x no separator\r\n")]
    public void ALineThatIsNotAReplyIsAProtocolViolation(string line)
    {
        var (wire, _) = Wire(line);

        Assert.Throws<SmtpProtocolViolation>(() => wire.ReadReply(CancellationToken.None));
    }

    [Fact]
    public void ReadsTheExtensionsThatSendingNeeds()
    {
        var extensions = new SmtpExtensions(new[] { "PIPELINING", "chunking", "SIZE 52428800", "AUTH PLAIN LOGIN", "AUTH=XOAUTH2", "8BITMIME" });

        Assert.True(extensions.Pipelining);
        Assert.True(extensions.Chunking);
        Assert.True(extensions.EightBitMime);
        Assert.False(extensions.SmtpUtf8);
        Assert.Equal(52428800, extensions.MaxSize);
        Assert.Equal(new[] { "PLAIN", "LOGIN", "XOAUTH2" }, extensions.AuthMechanisms.ToArray());
    }

    /// <summary>Reads come from the server's text; writes are collected.</summary>
    private sealed class DuplexStream : MemoryStream
    {
        public DuplexStream(byte[] incoming) : base(incoming)
        {
        }

        public MemoryStream Sent { get; } = new();

        public override void Write(byte[] buffer, int offset, int count) => Sent.Write(buffer, offset, count);
    }
}
