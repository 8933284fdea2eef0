using System.Text;
using MailProtocols.Engine;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class ProtocolTapTests
{
    private static void Client(ProtocolTap tap, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        tap.LogClient(bytes, 0, bytes.Length);
    }

    [Fact]
    public void NotesTheVerbOfTheLastCommandLine()
    {
        var tap = new ProtocolTap(null);
        Client(tap, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n");
        Assert.Equal("RCPT", tap.LastCommand);
    }

    [Fact]
    public void AuthContinuationLinesDoNotCountAsCommands()
    {
        var tap = new ProtocolTap(null);
        Client(tap, "AUTH LOGIN\r\n");
        Client(tap, "YWxpY2U=\r\n");
        Assert.Equal("AUTH", tap.LastCommand);
    }

    [Fact]
    public void CommandsAloneNeverLookLikeTheEndOfData()
    {
        var tap = new ProtocolTap(null);
        tap.BeginTransaction();
        Client(tap, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n");
        Client(tap, "RSET\r\n");
        Assert.False(tap.DataTerminatorSent);
    }

    [Fact]
    public void SeesTheTerminatorAfterData()
    {
        var tap = new ProtocolTap(null);
        tap.BeginTransaction();
        Client(tap, "DATA\r\n");
        Client(tap, "Subject: x\r\n\r\nbody\r\n");
        Assert.False(tap.DataTerminatorSent);
        Client(tap, ".\r\n");
        Assert.True(tap.DataTerminatorSent);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void SeesTheTerminatorSplitAcrossWrites(int split)
    {
        var tap = new ProtocolTap(null);
        tap.BeginTransaction();
        Client(tap, "DATA\r\n");
        const string tail = "last line\r\n.\r\n";
        var cut = tail.Length - 5 + split;
        Client(tap, "Subject: x\r\n\r\n" + tail.Substring(0, cut));
        Assert.False(tap.DataTerminatorSent);
        Client(tap, tail.Substring(cut));
        Assert.True(tap.DataTerminatorSent);
    }

    [Fact]
    public void AStuffedDotLineIsNotTheTerminator()
    {
        var tap = new ProtocolTap(null);
        tap.BeginTransaction();
        Client(tap, "DATA\r\n");
        Client(tap, "Subject: x\r\n\r\n..leading dot\r\n..\r\nmore\r\n");
        Assert.False(tap.DataTerminatorSent);
    }

    [Fact]
    public void BeginTransactionForgetsTheLastMessage()
    {
        var tap = new ProtocolTap(null);
        Client(tap, "DATA\r\n");
        Client(tap, "x\r\n.\r\n");
        Assert.True(tap.DataTerminatorSent);
        tap.BeginTransaction();
        Assert.False(tap.DataTerminatorSent);
    }
}
