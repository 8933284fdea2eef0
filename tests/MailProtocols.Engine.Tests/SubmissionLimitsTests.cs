using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class SubmissionLimitsTests
{
    private static readonly ConnectionSettings Settings = new() { Host = "smtp.office365.com", Port = 587 };

    [Theory]
    [InlineData(554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message Cannot submit message.", true)]
    [InlineData(554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException", true)]
    [InlineData(554, "5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.", false)]
    [InlineData(554, "5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded", false)]
    [InlineData(550, "5.2.0 SubmissionQuotaExceededException", false)]
    public void KnowsTheDailyQuotaByItsTextNotItsCodeAlone(int code, string text, bool quota)
    {
        var reply = new SmtpReply(code, text);
        Assert.Equal(quota, SubmissionLimits.IsQuotaExceeded(reply));
        var error = SubmissionLimits.Refusal(reply, Settings, "m1@example.com", "ops@contoso.com", 3);
        if (quota)
        {
            Assert.NotNull(error);
            Assert.Equal("SubmissionQuotaExceeded", error!.ErrorId);
            Assert.Equal(MailErrorKind.LimitsExceeded, error.Kind);
            Assert.Equal("ops@contoso.com", error.Target);
            Assert.True(error.IsSessionFailure, "nothing more can go: the command takes no more work");
        }
        else
        {
            Assert.Null(error);
        }
    }

    [Theory]
    [InlineData(432, "4.3.2 Concurrent connections limit exceeded.", true)]
    [InlineData(451, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded.", true)]
    [InlineData(421, "4.3.2 Concurrent connections limit exceeded.", true)]
    [InlineData(421, "4.3.2 Service shutting down", false)] // Postfix on a reload: an ordinary refusal
    [InlineData(451, "4.3.2 System not accepting network messages", false)]
    [InlineData(451, "4.3.0 Try again later", false)]
    [InlineData(532, "4.3.2 not a transient code", false)]
    public void KnowsThrottling(int code, string text, bool throttled)
    {
        var reply = new SmtpReply(code, text);
        Assert.Equal(throttled, SubmissionLimits.IsThrottled(reply));
        var error = SubmissionLimits.Refusal(reply, Settings, "m1@example.com", "ops@contoso.com", 3);
        Assert.Equal(throttled ? "SubmissionThrottled" : null, error?.ErrorId);
        if (throttled)
        {
            Assert.Equal(MailErrorKind.ResourceBusy, error!.Kind);
            Assert.Equal("m1@example.com", error.Target);
            Assert.False(error.IsSessionFailure);
            Assert.Contains("-MaximumMessagesPerMinute", error.Message);
        }
    }

    [Fact]
    public void NamesTheRowAsTargetWhenTheCallerGaveOne()
    {
        var row = new object();
        var quota = SubmissionLimits.Refusal(new SmtpReply(554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException"), Settings, "m1@example.com", "ops@contoso.com", 3, row);
        var throttled = SubmissionLimits.Refusal(new SmtpReply(432, "4.3.2 Concurrent connections limit exceeded."), Settings, "m1@example.com", "ops@contoso.com", 3, row);
        Assert.Same(row, quota!.Target);
        Assert.Same(row, throttled!.Target);
    }
}
