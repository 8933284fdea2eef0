using System.IO;
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

    private static void Server(ProtocolTap tap, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        tap.LogServer(bytes, 0, bytes.Length);
    }

    [Theory]
    [InlineData("AUTH GSSAPI", "334 ", true)]
    [InlineData("AUTH GSSAPI", "+ ", true)]
    [InlineData("AUTH XOAUTH2", "334 ", false)]
    public void KeepsTheServersKerberosTokensOutOfTheTranscript(string auth, string prefix, bool redacted)
    {
        var path = Path.GetTempFileName();
        const string token = "oYGZMIGWoAMKAQChCwYJKoZIgvcSAQICooGBBH8weqADAgEFoQMCAQ8ibjBsoAMCARKiZQRj";
        try
        {
            using (var tap = new ProtocolTap(path))
            {
                Client(tap, auth + "\r\n");
                Server(tap, prefix + "\r\n");
                Client(tap, "YIIC\r\n");
                Server(tap, prefix + token + "\r\n");
            }

            var log = File.ReadAllText(path);
            Assert.Equal(!redacted, log.Contains(token));
            Assert.Equal(redacted, log.Contains(prefix + "********"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
