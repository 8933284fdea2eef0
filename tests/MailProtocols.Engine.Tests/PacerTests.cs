using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
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
        var pacer = new Pacer(30, () => now, (time, _) => now += time);
        Assert.Equal(TimeSpan.Zero, pacer.Wait);
        Assert.Equal(TimeSpan.Zero, pacer.WaitTurn(CancellationToken.None, null));
        pacer.Start();
        Assert.Equal(1, pacer.Started);
        Assert.Equal(TimeSpan.FromSeconds(2), pacer.Wait);

        now = TimeSpan.FromSeconds(1.5);
        Assert.Equal(TimeSpan.FromSeconds(0.5), pacer.Wait);

        // A message that took longer than the interval does not earn the next one a burst.
        now = TimeSpan.FromSeconds(10);
        Assert.Equal(TimeSpan.Zero, pacer.Wait);
        pacer.Start();
        Assert.Equal(TimeSpan.FromSeconds(2), pacer.Wait);
    }

    [Fact]
    public void CountsFromTheStartNotFromTheEndOfTheWait()
    {
        // A new connection between the turn and the first command must not shorten the next interval.
        var now = TimeSpan.Zero;
        var pacer = new Pacer(30, () => now, (time, _) => now += time);
        pacer.Start();
        Assert.Equal(TimeSpan.FromSeconds(2), pacer.WaitTurn(CancellationToken.None, null));
        now += TimeSpan.FromSeconds(0.7); // connecting
        pacer.Start();
        Assert.Equal(TimeSpan.FromSeconds(2), pacer.Wait);
        Assert.Equal(2, pacer.Started);
    }

    [Fact]
    public void ReportsTheTimeLeftBeforeTheWaitAndEverySecondOfIt()
    {
        var now = TimeSpan.Zero;
        var sleeps = new List<TimeSpan>();
        var pacer = new Pacer(24, () => now, (time, _) =>
        {
            sleeps.Add(time);
            now += time;
        }); // 2.5 s
        var reports = new List<TimeSpan>();
        pacer.WaitTurn(CancellationToken.None, reports.Add);
        pacer.Start();
        Assert.Empty(reports);

        var waited = pacer.WaitTurn(CancellationToken.None, reports.Add);

        Assert.Equal(TimeSpan.FromSeconds(2.5), waited);
        Assert.Equal(new[] { 2.5, 1.5, 0.5 }, reports.Select(r => r.TotalSeconds));
        Assert.Equal(new[] { 1, 1, 0.5 }, sleeps.Select(r => r.TotalSeconds));
        Assert.Equal(1, pacer.Started);
    }

    [Fact]
    public void WaitsOnTheRealClockToo()
    {
        // Lower bounds only: a loaded machine may oversleep, never undersleep.
        var pacer = new Pacer(40); // 1.5 s
        var reports = new List<TimeSpan>();
        pacer.Start();
        var watch = Stopwatch.StartNew();
        var waited = pacer.WaitTurn(CancellationToken.None, reports.Add);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(1.4), $"waited only {watch.Elapsed}");
        Assert.True(waited >= TimeSpan.FromSeconds(1.4), $"says it waited {waited}");
        Assert.NotEmpty(reports);
        Assert.Equal(TimeSpan.Zero, pacer.Wait);
    }

    [Fact]
    public void SleepsThroughAWaitShorterThanAMillisecond()
    {
        var pacer = new Pacer(120_000); // 0.5 ms apart
        var reports = new List<TimeSpan>();
        pacer.Start();
        pacer.WaitTurn(CancellationToken.None, reports.Add);

        // One report, then one sleep of a whole millisecond; not a spin that reports each turn.
        Assert.InRange(reports.Count, 0, 2);
    }

    [Fact]
    public void EndsTheWaitAtOnceWhenCancelled()
    {
        var pacer = new Pacer(1);
        pacer.Start();
        using var cancel = new CancellationTokenSource();
        var watch = Stopwatch.StartNew();
        var waiting = Task.Run(() => pacer.WaitTurn(cancel.Token, null));
        Thread.Sleep(200);
        cancel.Cancel();
        Assert.Throws<OperationCanceledException>(() => waiting.GetAwaiter().GetResult());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed} of a 60 s wait");
        Assert.Equal(1, pacer.Started);
    }

    [Fact]
    public void RefusesFewerThanOneAMinute()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Pacer(0));
    }
}
