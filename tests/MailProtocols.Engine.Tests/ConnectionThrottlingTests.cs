using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class ConnectionThrottlingTests
{
    [Theory]
    [InlineData(421, "4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel", true)]
    [InlineData(432, "4.3.2 Concurrent connections limit exceeded.", true)]
    [InlineData(421, "4.3.2 Service shutting down", false)]
    [InlineData(421, "4.4.2 mock.test Error: timeout exceeded", false)]
    [InlineData(554, "5.7.1 Concurrent connections from your address are not accepted", false)]
    public void KnowsExchangesConnectionLimitAtTheGreeting(int code, string text, bool limit) =>
        Assert.Equal(limit, ConnectionThrottling.IsConnectionLimit(new SmtpReply(code, text)));

    [Fact]
    public void TheLastRefusalEndsTheCommandAsSubmissionThrottled()
    {
        var settings = new ConnectionSettings { Host = "smtp.office365.com", Port = 587 };
        var error = ConnectionThrottling.Refusal(settings, new SmtpReply(432, "4.3.2 Concurrent connections limit exceeded."), 3);
        Assert.Equal("SubmissionThrottled", error.ErrorId);
        Assert.Equal(MailErrorKind.ResourceBusy, error.Kind);
        Assert.Equal("smtp.office365.com:587", error.Target);
        Assert.True(error.IsSessionFailure);
        Assert.Contains("3 retries included", error.Message);
        Assert.Contains("432 4.3.2 Concurrent connections limit exceeded.", error.Message);
    }
}
