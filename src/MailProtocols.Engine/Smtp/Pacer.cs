using System;
using System.Diagnostics;
using System.Threading;

namespace MailProtocols.Engine.Smtp;

/// <summary>
/// Spaces the attempts of messages evenly, about a given number a minute (Exchange Online takes
/// 30 a minute per mailbox and delays the rest). Evenly rather than in bursts: a burst of a
/// minute's worth at once is what such a server throttles. The client spaces its writes; the
/// server's clock may still see one more in a minute when the network delays them unevenly.
/// </summary>
public sealed class Pacer
{
    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(1);

    private readonly Func<TimeSpan> _clock;
    private readonly Action<TimeSpan, CancellationToken> _sleep;
    private TimeSpan? _lastStart;

    public Pacer(int messagesPerMinute)
        : this(messagesPerMinute, Stopwatch.StartNew())
    {
    }

    private Pacer(int messagesPerMinute, Stopwatch watch)
        : this(messagesPerMinute, () => watch.Elapsed, Sleep)
    {
    }

    /// <summary>A pacer on another clock; <paramref name="sleep"/> must let that clock move on
    /// by the time given (or throw when cancelled).</summary>
    internal Pacer(int messagesPerMinute, Func<TimeSpan> clock, Action<TimeSpan, CancellationToken> sleep)
    {
        if (messagesPerMinute < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(messagesPerMinute), messagesPerMinute, "At least one message a minute.");
        }

        MessagesPerMinute = messagesPerMinute;
        Interval = TimeSpan.FromTicks(TimeSpan.FromMinutes(1).Ticks / messagesPerMinute);
        _clock = clock;
        _sleep = sleep;
    }

    public int MessagesPerMinute { get; }

    /// <summary>The least time between the starts of two attempts.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Attempts started so far, retries included.</summary>
    public int Started { get; private set; }

    /// <summary>How long the next attempt must still wait; zero when it may go now.</summary>
    public TimeSpan Wait
    {
        get
        {
            if (_lastStart == null)
            {
                return TimeSpan.Zero;
            }

            var left = _lastStart.Value + Interval - _clock();
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Waits for the next attempt's turn, calling <paramref name="report"/> with the time
    /// left before the wait and about once a second during it; returns how long it waited.
    /// Cancellation ends the wait at once. The turn is taken by <see cref="Start"/>, when the
    /// attempt's first command is written: whatever comes between (a new connection) does not
    /// shorten the next interval.</summary>
    public TimeSpan WaitTurn(CancellationToken token, Action<TimeSpan>? report)
    {
        var began = _clock();
        for (var left = Wait; left > TimeSpan.Zero; left = Wait)
        {
            report?.Invoke(left);
            _sleep(left < ReportEvery ? left : ReportEvery, token);
        }

        token.ThrowIfCancellationRequested();
        return _clock() - began;
    }

    /// <summary>Counts an attempt as started now: the next may start one interval later.</summary>
    public void Start()
    {
        _lastStart = _clock();
        Started++;
    }

    private static void Sleep(TimeSpan time, CancellationToken token)
    {
        // Whole milliseconds, rounded up: WaitOne rounds a TimeSpan down, and the last fraction
        // of a millisecond would otherwise be spun away, reporting on every turn.
        if (token.WaitHandle.WaitOne((int)Math.Ceiling(time.TotalMilliseconds)))
        {
            throw new OperationCanceledException(token);
        }
    }
}
