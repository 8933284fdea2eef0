using System;

namespace MailProtocols.Engine.Smtp;

/// <summary>
/// A greeting that refuses the session only for now, because too many connections are open at
/// once: Exchange Online answers "421 4.3.2 The maximum number of concurrent connections has
/// exceeded a limit, closing transmission channel" (or "432 4.3.2 ...") when a mailbox has more
/// than 3 SMTP connections. Another 421, such as Postfix's "421 4.3.2 Service shutting down",
/// is an ordinary refusal and is not retried.
/// </summary>
internal static class ConnectionThrottling
{
    public static bool IsConnectionLimit(SmtpReply greeting) =>
        greeting.Code == 432 ||
        (greeting.Code == 421 && greeting.Text.IndexOf("concurrent connections", StringComparison.OrdinalIgnoreCase) >= 0);

    /// <summary>The error once the retries ran out: the command takes no more work, as after any
    /// refused session.</summary>
    public static MailOperationException Refusal(ConnectionSettings settings, SmtpReply greeting, int retries, Exception? ex = null) =>
        new("SubmissionThrottled", MailErrorKind.ResourceBusy, settings.Endpoint,
            $"The server {settings.Endpoint} refused the connection for now, {retries} retries included: too many connections are open " +
            $"at once ({greeting.Code} {greeting.Text.Replace('\n', ' ')}). Nothing was sent. Exchange Online takes 3 connections per " +
            "mailbox: send from fewer scripts or clients at a time, or raise -MaximumRetryCount / -RetryIntervalSec to wait longer.", ex)
        {
            IsSessionFailure = true,
        };
}
