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
/// Runs the save jobs of one fetch behind the download, on two background lanes: one writes the
/// messages' temporary files, one at a time in order; the other commits batches, one at a time in
/// order, each once its own files are written (the batch waits for that). So the disk's wait
/// for batch k's durable step overlaps both the download and the writing of batch k+1.
/// </summary>
internal sealed class SaveWorker
{
    private const long MaxUnwritten = 8L * 1024 * 1024; // bytes waiting to be written

    private readonly Lane _writes;
    private readonly Lane _commits;
    private long _unwritten;
    private volatile bool _stopped;

    public SaveWorker()
    {
        _writes = new Lane(this);
        _commits = new Lane(this);
    }

    /// <summary>True once <see cref="Stop"/> was called: jobs give up rather than run.</summary>
    public bool Stopped => _stopped;

    /// <summary>Queues a write holding <paramref name="bytes"/> in memory until it runs. When
    /// more than a limit is held (a disk slower than the network), waits for the writes to
    /// drain rather than hold more.</summary>
    public void QueueWrite(ISaveJob job, long bytes)
    {
        if (Interlocked.Add(ref _unwritten, bytes) > MaxUnwritten)
        {
            _writes.WaitIdle();
        }

        _writes.Queue(job);
    }

    /// <summary>Queues a batch's commit, after the commits queued before it.</summary>
    public void QueueCommit(ISaveJob job) => _commits.Queue(job);

    /// <summary>A write that held <paramref name="bytes"/> has written them.</summary>
    public void Written(long bytes) => Interlocked.Add(ref _unwritten, -bytes);

    /// <summary>Makes the jobs still queued give up, and waits for those running.</summary>
    public void Stop()
    {
        _stopped = true;
        WaitIdle();
    }

    /// <summary>Returns once every queued job has run (or given up).</summary>
    public void WaitIdle()
    {
        _writes.WaitIdle();
        _commits.WaitIdle();
    }

    /// <summary>Jobs run one at a time in the order queued. A task drains the queue and ends when
    /// it is empty; the next job starts another, so a lane that is behind takes what was queued
    /// meanwhile without a thread hand-off for each job.</summary>
    private sealed class Lane
    {
        private readonly SaveWorker _worker;
        private readonly ConcurrentQueue<ISaveJob> _jobs = new();
        private Task _draining = Task.CompletedTask;
        private int _running;

        public Lane(SaveWorker worker) => _worker = worker;

        public void Queue(ISaveJob job)
        {
            _jobs.Enqueue(job);
            if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
            {
                _draining = Task.Run(Drain);
            }
        }

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
                    if (_worker._stopped)
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
}
