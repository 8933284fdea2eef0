using System;

namespace MailProtocols.Engine.Smtp;

/// <summary>
/// The refusals of a message that are about the sender's limits rather than the message:
/// throttling (too many connections or messages at once: transient, retried like any 4xx reply)
/// and a daily quota (permanent until the day's window moves on: nothing more can go, so the
/// command stops). Exchange Online's replies, from Microsoft's "Message storage and concurrent
/// connection throttling for SMTP Authenticated Submission" (learn.microsoft.com):
/// "432 4.3.2 Concurrent connections limit exceeded." (also worded "4.3.2 STOREDRV.ClientSubmit;
/// sender thread limit exceeded.") and "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException".
/// </summary>
internal static class SubmissionLimits
{
    /// <summary>A 554 5.2.0 is Exchange's code for any failed submission (SendAs denied, a
    /// message it cannot convert...): only this text makes it the daily quota.</summary>
    public static bool IsQuotaExceeded(SmtpReply reply) =>
        reply.Code == 554 && reply.Text.StartsWith("5.2.0", StringComparison.Ordinal) &&
        reply.Text.IndexOf("SubmissionQuotaExceededException", StringComparison.OrdinalIgnoreCase) >= 0;

    /// <summary>A transient refusal because the sender has too many connections or submissions
    /// at once: the code 432, or one of Exchange's texts. The enhanced code 4.3.2 alone is not
    /// enough: RFC 3463 gives it to any server not accepting messages, e.g. Postfix's "421 4.3.2
    /// Service shutting down" on a reload.</summary>
    public static bool IsThrottled(SmtpReply reply) =>
        reply.IsTransient && (reply.Code == 432 ||
            reply.Text.IndexOf("Concurrent connections limit exceeded", StringComparison.OrdinalIgnoreCase) >= 0 ||
            reply.Text.IndexOf("sender thread limit exceeded", StringComparison.OrdinalIgnoreCase) >= 0);

    /// <summary>The error for a message refused for the sender's limits; null for any other refusal.
    /// <paramref name="row"/>, what the caller gave with the message (its input row), is the
    /// error's target when given: the Message-ID in the text was never seen by the caller.</summary>
    public static MailOperationException? Refusal(SmtpReply reply, ConnectionSettings settings, string messageId, string sender, int retries, object? row = null)
    {
        var quoted = $"{reply.Code} {reply.Text.Replace('\n', ' ')}";
        if (IsQuotaExceeded(reply))
        {
            // Every later message would get the same reply: the command takes no more work, and
            // each message it did not send gets its own error.
            return new MailOperationException("SubmissionQuotaExceeded", MailErrorKind.LimitsExceeded, row ?? sender,
                $"The server {settings.Endpoint} refused the message {messageId}: '{sender}' has reached its sending limit for the day " +
                $"(Exchange Online: 10,000 recipients in 24 hours) ({quoted}). Nothing more is sent by this command; send the rest " +
                "when the 24-hour window has moved on, or from another mailbox.")
            {
                IsSessionFailure = true,
            };
        }

        if (IsThrottled(reply))
        {
            return new MailOperationException("SubmissionThrottled", MailErrorKind.ResourceBusy, row ?? messageId,
                $"The server {settings.Endpoint} refused the message {messageId} for now, {retries} retries included: '{sender}' has too many " +
                $"connections or messages at once ({quoted}). Nothing was delivered. Exchange Online takes 3 connections and 30 messages " +
                "a minute per mailbox: send from fewer scripts at a time, or pace them with -MaximumMessagesPerMinute.");
        }

        return null;
    }
}
