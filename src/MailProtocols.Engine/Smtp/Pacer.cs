using System;
using System.Diagnostics;
using System.Threading;

namespace MailProtocols.Engine.Smtp;

/// <summary>
/// Spaces messages evenly so that no more than a given number start in any minute (Exchange
/// Online takes 30 a minute per mailbox and delays the rest). Evenly rather than in bursts: a
/// burst of a minute's worth at once is what such a server throttles.
/// </summary>
public sealed class Pacer
{
    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(1);

    private readonly Func<TimeSpan> _clock;
    private TimeSpan? _lastStart;

    public Pacer(int messagesPerMinute)
        : this(messagesPerMinute, Stopwatch.StartNew())
    {
    }

    private Pacer(int messagesPerMinute, Stopwatch watch)
        : this(messagesPerMinute, () => watch.Elapsed)
    {
    }

    internal Pacer(int messagesPerMinute, Func<TimeSpan> clock)
    {
        if (messagesPerMinute < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(messagesPerMinute), messagesPerMinute, "At least one message a minute.");
        }

        MessagesPerMinute = messagesPerMinute;
        Interval = TimeSpan.FromTicks(TimeSpan.FromMinutes(1).Ticks / messagesPerMinute);
        _clock = clock;
    }

    public int MessagesPerMinute { get; }

    /// <summary>The least time between the starts of two messages.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Messages started so far.</summary>
    public int Started { get; private set; }

    /// <summary>How long the next message must still wait; zero when it may go now.</summary>
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

    /// <summary>Waits for the next message's turn, calling <paramref name="report"/> with the time
    /// left before the wait and about once a second during it, then counts the message as started.
    /// Cancellation ends the wait at once (and counts nothing).</summary>
    public void WaitTurn(CancellationToken token, Action<TimeSpan>? report)
    {
        for (var left = Wait; left > TimeSpan.Zero; left = Wait)
        {
            report?.Invoke(left);

            // Whole milliseconds, rounded up: WaitOne rounds a TimeSpan down, and the last
            // fraction of a millisecond would otherwise be spun away, reporting on every turn.
            var slice = left < ReportEvery ? left : ReportEvery;
            if (token.WaitHandle.WaitOne((int)Math.Ceiling(slice.TotalMilliseconds)))
            {
                throw new OperationCanceledException(token);
            }
        }

        token.ThrowIfCancellationRequested();
        _lastStart = _clock();
        Started++;
    }
}
