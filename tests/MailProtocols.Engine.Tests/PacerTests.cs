using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class PacerTests
{
    [Theory]
    [InlineData(30, 2000)]
    [InlineData(120, 500)]
    [InlineData(1, 60000)]
    [InlineData(7, 8571)]
    public void SpacesMessagesEvenly(int perMinute, int intervalMs)
    {
        Assert.Equal(intervalMs, (int)new Pacer(perMinute).Interval.TotalMilliseconds);
    }

    [Fact]
    public void LetsTheFirstGoAtOnceAndEachNextOneIntervalAfterTheLast()
    {
        var now = TimeSpan.Zero;
        var pacer = new Pacer(30, () => now);
        Assert.Equal(TimeSpan.Zero, pacer.Wait);
        pacer.WaitTurn(CancellationToken.None, null);
        Assert.Equal(1, pacer.Started);
        Assert.Equal(TimeSpan.FromSeconds(2), pacer.Wait);

        now = TimeSpan.FromSeconds(1.5);
        Assert.Equal(TimeSpan.FromSeconds(0.5), pacer.Wait);

        // A message that took longer than the interval does not earn the next one a burst.
        now = TimeSpan.FromSeconds(10);
        Assert.Equal(TimeSpan.Zero, pacer.Wait);
        pacer.WaitTurn(CancellationToken.None, null);
        Assert.Equal(TimeSpan.FromSeconds(2), pacer.Wait);
    }

    [Fact]
    public void ReportsTheTimeLeftWhileItWaits()
    {
        var pacer = new Pacer(40); // 1.5 s
        var reports = new List<TimeSpan>();
        pacer.WaitTurn(CancellationToken.None, reports.Add);
        Assert.Empty(reports);
        var watch = Stopwatch.StartNew();
        pacer.WaitTurn(CancellationToken.None, reports.Add);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(1.4), $"waited only {watch.Elapsed}");
        // At 1.5 s left, then about a second later (a timer may wake a little early: then once more).
        Assert.InRange(reports.Count, 2, 4);
        Assert.True(reports[0] > TimeSpan.FromSeconds(1.3), $"first report {reports[0]}");
        Assert.True(reports[1] < TimeSpan.FromSeconds(0.6), $"second report {reports[1]}");
        Assert.Equal(2, pacer.Started);
    }

    [Fact]
    public void SleepsThroughAWaitShorterThanAMillisecond()
    {
        var pacer = new Pacer(120_000); // 0.5 ms apart
        var reports = new List<TimeSpan>();
        pacer.WaitTurn(CancellationToken.None, reports.Add);
        pacer.WaitTurn(CancellationToken.None, reports.Add);

        // One report, then one sleep of a whole millisecond; not a spin that reports each turn.
        Assert.InRange(reports.Count, 0, 2);
        Assert.Equal(2, pacer.Started);
    }

    [Fact]
    public void EndsTheWaitAtOnceWhenCancelled()
    {
        var pacer = new Pacer(1);
        pacer.WaitTurn(CancellationToken.None, null);
        using var cancel = new CancellationTokenSource();
        var watch = Stopwatch.StartNew();
        var waiting = Task.Run(() => pacer.WaitTurn(cancel.Token, null));
        Thread.Sleep(200);
        cancel.Cancel();
        Assert.Throws<OperationCanceledException>(() => waiting.GetAwaiter().GetResult());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(0.9), $"took {watch.Elapsed}");
        Assert.Equal(1, pacer.Started);
    }

    [Fact]
    public void RefusesFewerThanOneAMinute()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Pacer(0));
    }
}
