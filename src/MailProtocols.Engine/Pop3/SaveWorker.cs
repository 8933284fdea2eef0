using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;

namespace MailProtocols.Engine.Pop3;

/// <summary>Work on saved files that runs behind the download: writing a message's temporary
/// file, or committing a batch.</summary>
internal interface ISaveJob
{
    /// <summary>Does the work; never throws (a failure is kept for the caller to report).</summary>
    void Run();

    /// <summary>Gives up without doing the work: the fetch is ending early.</summary>
    void Skip();
}

/// <summary>
/// Runs the save jobs of one fetch on a background thread, one at a time, in the order they were
/// queued: a batch's commit is queued after its files' writes, so it runs only once they are all
/// written, while the next batch is downloaded (the disk's wait for one batch overlaps the
/// network's for the next). A task drains the queue and ends when it is empty; the next job
/// starts another, so a writer that is behind takes what was queued meanwhile without a thread
/// hand-off for each job.
/// </summary>
internal sealed class SaveWorker
{
    private const long MaxUnwritten = 8L * 1024 * 1024; // bytes waiting to be written

    private readonly ConcurrentQueue<ISaveJob> _jobs = new();
    private Task _draining = Task.CompletedTask;
    private int _running;
    private long _unwritten;
    private volatile bool _stopped;

    /// <summary>Queues a job; <paramref name="bytes"/> it holds in memory until it runs. When
    /// more than a limit is held (a disk slower than the network), waits for the queue to drain
    /// rather than hold more.</summary>
    public void Queue(ISaveJob job, long bytes)
    {
        if (bytes > 0 && Interlocked.Add(ref _unwritten, bytes) > MaxUnwritten)
        {
            WaitIdle();
        }

        _jobs.Enqueue(job);
        if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            _draining = Task.Run(Drain);
        }
    }

    /// <summary>A job that held <paramref name="bytes"/> has written them.</summary>
    public void Written(long bytes) => Interlocked.Add(ref _unwritten, -bytes);

    /// <summary>Makes the jobs still queued give up, and waits for the one running.</summary>
    public void Stop()
    {
        _stopped = true;
        WaitIdle();
    }

    /// <summary>Returns once every queued job has run (or given up).</summary>
    public void WaitIdle()
    {
        while (!_jobs.IsEmpty || Volatile.Read(ref _running) == 1)
        {
            _draining.Wait();
            if (Volatile.Read(ref _running) == 0 && !_jobs.IsEmpty && Interlocked.CompareExchange(ref _running, 1, 0) == 0)
            {
                // Queued after the last drain looked: run here.
                Drain();
            }
        }
    }

    private void Drain()
    {
        while (true)
        {
            while (_jobs.TryDequeue(out var job))
            {
                if (_stopped)
                {
                    job.Skip();
                }
                else
                {
                    job.Run();
                }
            }

            Volatile.Write(ref _running, 0);

            // A job queued after the loop above found the queue empty, whose producer saw the
            // drain still running: take it, unless a new drain already did.
            if (_jobs.IsEmpty || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            {
                return;
            }
        }
    }
}
