using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>The refusals after which Send-SmtpMessage signs in as the current logon (the
/// Send-MailMessage rule), and those after which it must not.</summary>
public class AuthenticationRequiredTests
{
    [Theory]
    [InlineData(530, "5.7.57 Client not authenticated to send mail. [DM6PR02CA0093.namprd02.prod.outlook.com]", false)]
    [InlineData(530, "5.7.1 Client was not authenticated", false)]
    [InlineData(530, "5.7.0 Authentication required", false)]
    [InlineData(530, "Authentication required", false)]
    [InlineData(530, "5.7.0 Authentication required", true)]
    [InlineData(550, "5.7.54 SMTP; Unable to relay recipient in non-accepted domain", true)]
    [InlineData(554, "5.7.1 <bob@example.net>: Relay access denied", true)]
    [InlineData(550, "5.7.1 <bob@example.net>... Relaying denied", true)]
    [InlineData(550, "5.7.1 Unable to relay", true)]
    [InlineData(550, "relay not permitted", true)]
    public void SigningInMayLift(int code, string text, bool atRecipient)
    {
        Assert.True(AuthenticationRequired.Is(new SmtpReply(code, text), atRecipient));
    }

    [Theory]
    [InlineData(530, "5.7.0 Must issue a STARTTLS command first", false)] // Postfix wants TLS, not a sign-in
    [InlineData(530, "5.7.11 Encryption required", false)]
    [InlineData(550, "5.7.54 SMTP; Unable to relay recipient in non-accepted domain", false)] // a relay refusal is about a recipient
    [InlineData(554, "5.7.1 Relay access denied", false)]
    [InlineData(550, "5.7.1 Message rejected as spam by Content Filtering", true)] // 5.7.1 without relaying: policy
    [InlineData(550, "5.7.1 Client does not have permissions to send as this sender", false)]
    [InlineData(550, "5.1.1 <bob@example.com>: Recipient address rejected: User unknown", true)]
    [InlineData(550, "5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy", true)]
    [InlineData(553, "5.7.1 relay denied", true)] // 553 is a mailbox name problem
    [InlineData(451, "4.7.1 Relay temporarily unavailable", true)]
    [InlineData(454, "4.7.0 Temporary authentication failure", false)]
    [InlineData(250, "2.1.5 Ok", true)]
    public void LeavesOtherRefusalsAlone(int code, string text, bool atRecipient)
    {
        Assert.False(AuthenticationRequired.Is(new SmtpReply(code, text), atRecipient));
    }
}
