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
}
