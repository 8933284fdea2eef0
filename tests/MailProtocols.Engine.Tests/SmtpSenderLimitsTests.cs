using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>The sender within a server's limits: every attempt paced on the wire, nothing sent
/// once the session failed, a long-idle connection checked before use. The pacer runs on a fake
/// clock that only its waits move, so the spacing is exact whatever the load of the machine.</summary>
public class SmtpSenderLimitsTests
{
    private const string Quota = "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException";

    private static OutgoingMessage Message(int row) => new()
    {
        From = "ops@example.com",
        To = new[] { $"u{row}@example.com" },
        Subject = $"row {row}",
        TextBody = "Hello.",
    };

    /// <summary>Sends the rows; <paramref name="drainEach"/> reads every reply before the next
    /// row, as the cmdlet does before a pacing wait.</summary>
    private static List<SmtpOutcome> SendRows(SmtpSender sender, int count, bool drainEach = false)
    {
        var outcomes = new List<SmtpOutcome>();
        for (var row = 1; row <= count; row++)
        {
            outcomes.AddRange(sender.Submit(Message(row), row));
            if (drainEach)
            {
                outcomes.AddRange(sender.Drain());
            }
        }

        outcomes.AddRange(sender.Drain());
        sender.Quit();
        return outcomes;
    }

    [Fact]
    public void SpacesEveryAttemptOnTheWireTheRetryIncluded()
    {
        var clock = new FakeClock();
        var mailTimes = new List<TimeSpan>();
        var ends = 0;
        using var server = new ScriptedSmtpServer((_, line) =>
        {
            if (line.StartsWith("MAIL", StringComparison.Ordinal))
            {
                // The client waits for the 354 of this message before it can wait again: the
                // clock still shows this attempt's turn.
                mailTimes.Add(clock.Read());
            }

            return line == "." && ++ends == 2 ? "432 4.3.2 Concurrent connections limit exceeded." : null;
        });
        using var sender = new SmtpSender(server.Settings, null, CancellationToken.None)
        {
            RetryInterval = TimeSpan.Zero,
            Pacer = new Pacer(40, clock.Read, clock.Sleep),
        };

        var outcomes = SendRows(sender, 3);

        Assert.Equal(new object[] { 1, 2, 3 }, outcomes.Select(o => o.Tag));
        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.Equal(2, outcomes[1].Result!.Attempts);
        Assert.Equal(4, mailTimes.Count);
        for (var i = 1; i < mailTimes.Count; i++)
        {
            Assert.True(mailTimes[i] - mailTimes[i - 1] >= TimeSpan.FromSeconds(1.5), $"MAIL {i + 1} came {mailTimes[i] - mailTimes[i - 1]} after the one before");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SendsNothingMoreOnceTheDailyQuotaIsReached(bool paced)
    {
        var ends = 0;
        using var quotaSent = new ManualResetEventSlim();
        using var waiting = new ManualResetEventSlim(!paced);
        using var server = new ScriptedSmtpServer((_, line) =>
        {
            if (line != "." || ++ends != 2)
            {
                return null;
            }

            // Paced, the reply comes while the client waits for row 3's turn.
            Assert.True(waiting.Wait(TimeSpan.FromSeconds(10)));
            return Quota;
        });
        server.Replied += line =>
        {
            if (line == "." && ends == 2)
            {
                quotaSent.Set();
            }
        };
        var clock = new FakeClock();
        var sleeps = 0;
        using var sender = new SmtpSender(server.Settings, null, CancellationToken.None);
        var outcomes = new List<SmtpOutcome>();
        outcomes.AddRange(sender.Submit(Message(1), 1));
        outcomes.AddRange(sender.Submit(Message(2), 2));
        if (paced)
        {
            // Row 3's turn comes once the quota reply is on its way: the sender must read it
            // after the wait, before it writes anything.
            sender.Pacer = new Pacer(120, clock.Read, (time, token) =>
            {
                waiting.Set();
                Assert.True(quotaSent.Wait(TimeSpan.FromSeconds(10)));
                Thread.Sleep(100);
                clock.Sleep(time, token);
                sleeps++;
            });
            sender.Pacer.Start();
        }
        else
        {
            // The quota reply was read: SessionFailed is what the caller could have checked.
            outcomes.AddRange(sender.Drain());
            Assert.True(sender.SessionFailed);
        }

        outcomes.AddRange(sender.Submit(Message(3), 3));
        outcomes.AddRange(sender.Drain());

        Assert.Equal(new object[] { 1, 2, 3 }, outcomes.Select(o => o.Tag));
        Assert.NotNull(outcomes[0].Result);
        Assert.Equal("SubmissionQuotaExceeded", outcomes[1].Error!.ErrorId);
        Assert.Equal(2, outcomes[1].Error!.Target);
        Assert.Equal("NotSent", outcomes[2].Error!.ErrorId);
        Assert.Equal(3, outcomes[2].Error!.Target);
        Assert.Equal(MailErrorKind.LimitsExceeded, outcomes[2].Error!.Kind);
        Assert.Contains("SubmissionQuotaExceeded", outcomes[2].Error!.Message);
        Assert.Equal(2, server.Log.Count(l => l.Contains("MAIL FROM")));
        Assert.Equal(paced ? 1 : 0, sleeps);
    }

    [Fact]
    public void ChecksAConnectionIdleForALongWaitWithNoopAndSendsOnANewOneIfItFailed()
    {
        var clock = new FakeClock();
        var mailTimes = new List<TimeSpan>();
        using var server = new ScriptedSmtpServer((connection, line) =>
        {
            if (line.StartsWith("EHLO", StringComparison.Ordinal) && connection > 1)
            {
                // Connecting again takes time, after the turn: the next interval counts from the MAIL.
                clock.Sleep(TimeSpan.FromSeconds(3), CancellationToken.None);
            }

            if (line.StartsWith("MAIL", StringComparison.Ordinal))
            {
                mailTimes.Add(clock.Read());
            }

            return line == "NOOP" && connection == 1 ? ScriptedSmtpServer.Close : null;
        });
        using var sender = new SmtpSender(server.Settings, null, CancellationToken.None)
        {
            Pacer = new Pacer(6, clock.Read, clock.Sleep), // 10 s apart
        };

        var outcomes = SendRows(sender, 3, drainEach: true);

        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.Equal(1, outcomes[1].Result!.Attempts);
        Assert.Contains("1: NOOP", server.Log);
        Assert.Equal(2, server.Log.Count(l => l.StartsWith("2: MAIL FROM:", StringComparison.Ordinal)));
        Assert.Equal(new[] { 0.0, 13, 23 }, mailTimes.Select(t => t.TotalSeconds));
    }

    [Fact]
    public void SendsNoNoopAfterAShortWait()
    {
        var clock = new FakeClock();
        using var server = new ScriptedSmtpServer();
        using var sender = new SmtpSender(server.Settings, null, CancellationToken.None)
        {
            Pacer = new Pacer(30, clock.Read, clock.Sleep), // 2 s apart
        };

        var outcomes = SendRows(sender, 3, drainEach: true);

        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.DoesNotContain(server.Log, l => l.EndsWith("NOOP", StringComparison.Ordinal));
        Assert.Equal(TimeSpan.FromSeconds(4), clock.Read());
    }

    private sealed class FakeClock
    {
        private long _ticks;

        public TimeSpan Read() => TimeSpan.FromTicks(Interlocked.Read(ref _ticks));

        public void Sleep(TimeSpan time, CancellationToken token)
        {
            token.ThrowIfCancellationRequested();
            Interlocked.Add(ref _ticks, time.Ticks);
        }
    }
}
