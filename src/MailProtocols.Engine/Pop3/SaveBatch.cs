using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// Messages being saved and not yet reported. Each is parsed from the bytes as they come (kept
/// in memory up to a limit, a larger one streamed into its file) and written to
/// &lt;uid&gt;.eml.partial; then, a batch at a time, the files are made durable together, renamed
/// to &lt;uid&gt;.eml, and the folder made durable. Bounded in count and bytes, so that open files,
/// memory and the work lost to a failure stay small. The small messages' writes and the commit
/// run on the fetch's <see cref="SaveWorker"/>, behind the download.
/// </summary>
internal sealed class SaveBatch : ISaveJob
{
    private const int MaxCount = 256;
    private const long MaxBytes = 32L * 1024 * 1024;

    // A message up to this size is parsed from a copy kept while it is written; a larger one
    // from its file, where the parser leaves its large parts.
    private const int MemoryCopyLimit = 1024 * 1024;

    private readonly string _folder;
    private readonly IMessageFiles _files;
    private readonly SaveWorker _worker;
    private readonly MimeKit.MimeParser _parser;
    private readonly List<Item> _items = new();
    private long _bytes;
    private Item? _current;
    private SaveFolder? _openFolder;

    // The batch's writes not yet ended, plus one until the commit is queued: the commit waits
    // for none to be left.
    private readonly CountdownEvent _writesLeft = new(1);

    // Set by the commit: it ended (done, failed or skipped), and how.
    private readonly ManualResetEventSlim _committed = new();
    private Exception? _commitError;
    private bool _commitSkipped;

    /// <summary>A batch saving into <paramref name="folder"/>; <paramref name="parser"/> is the
    /// fetch's, used again for each message on the caller's thread, <paramref name="worker"/>
    /// the fetch's, shared by its batches so that their jobs run in order.</summary>
    public SaveBatch(string folder, IMessageFiles files, SaveWorker worker, MimeKit.MimeParser parser)
    {
        _folder = folder;
        _files = files;
        _worker = worker;
        _parser = parser;
    }

    /// <summary>The final path of the message being written, for an error about it.</summary>
    public string? CurrentPath => _current?.Path;

    public bool IsFull => _items.Count >= MaxCount || _bytes >= MaxBytes;

    /// <summary>True once the commit queued by <see cref="Commit"/> has ended.</summary>
    public bool Committed => _committed.IsSet;

    /// <summary>Starts a message: the stream returned keeps it in <paramref name="copy"/> up to a
    /// limit, and past it opens its temporary file and streams on into that.</summary>
    public Stream Open(Pop3Entry entry, MemoryStream copy)
    {
        var path = Path.Combine(_folder, EmlFileName.FromUid(entry.Uid!));
        _current = new Item(this, entry, path);
        try
        {
            _openFolder ??= _files.OpenFolder(_folder);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw new DestinationWriteException(ex);
        }

        copy.SetLength(0);
        return new TeeStream(this, _current, copy, MemoryCopyLimit);
    }

    /// <summary>The message opened last came whole: it is parsed, and written to its temporary
    /// file (a small one by the worker, so that creating files, the slowest step of saving small
    /// messages, overlaps the download).</summary>
    public void Received(MemoryStream copy)
    {
        var item = _current!;
        if (item.File == null)
        {
            var length = (int)copy.Length;
            item.Bytes = ArrayPool<byte>.Shared.Rent(length);
            item.Length = length;
            Buffer.BlockCopy(copy.GetBuffer(), 0, item.Bytes, 0, length);
            _writesLeft.AddCount();
            _worker.QueueWrite(item, length);

            item.Message = Pop3Message.CreateSaved(item.Entry, item.Path, _parser, copy);
        }
        else
        {
            item.File.Flush();
            using var written = new FileStream(item.TemporaryPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            item.Message = Pop3Message.CreateSaved(item.Entry, item.Path, _parser, written);
        }

        _items.Add(item);
        _bytes += item.Entry.Size;
        _current = null;
    }

    public void Refused(Pop3Entry entry, string reply) => _items.Add(new Item(this, entry, null!) { Refusal = reply });

    /// <summary>Queues the commit: once its files are written, the batch is made durable under
    /// the final names, on the worker, while the caller goes on. <see cref="Outcomes"/> waits
    /// for it.</summary>
    public void Commit()
    {
        _writesLeft.Signal();
        _worker.QueueCommit(this);
    }

    /// <summary>Waits for the commit, then gives the batch's outcomes, in order; the saved
    /// messages are added to <paramref name="received"/> (they may now be deleted). Throws
    /// SaveFailed when the commit failed.</summary>
    public List<Pop3FetchOutcome> Outcomes(FetchTally tally, List<(Pop3Entry, DeletionMark?)> received)
    {
        _committed.Wait();
        if (_commitError != null)
        {
            ExceptionDispatchInfo.Capture(_commitError).Throw();
        }

        if (_commitSkipped)
        {
            throw new InvalidOperationException("The batch was not committed: the fetch stopped.");
        }

        var outcomes = new List<Pop3FetchOutcome>(_items.Count);
        foreach (var item in _items)
        {
            tally.Count(item.Entry);
            if (item.Refusal != null)
            {
                outcomes.Add(Pop3Fetcher.Unavailable(item.Entry, item.Refusal, tally));
                continue;
            }

            received.Add((item.Entry, item.Message!.Mark));
            outcomes.Add(tally.Outcome(item.Message, null));
        }

        _items.Clear();
        _bytes = 0;
        return outcomes;
    }

    /// <summary>The commit, on the worker: write, durable, rename, folder durable, in that order.</summary>
    void ISaveJob.Run()
    {
        _writesLeft.Wait();
        if (_worker.Stopped)
        {
            ((ISaveJob)this).Skip();
            return;
        }

        try
        {
            CommitFiles();
        }
        catch (Exception ex)
        {
            _commitError = ex;
        }
        finally
        {
            _committed.Set();
        }
    }

    void ISaveJob.Skip()
    {
        _commitSkipped = true;
        CloseFolder();
        _committed.Set();
    }

    private void CommitFiles()
    {
        var saving = _items.Where(i => i.Refusal == null).ToList();
        string? path = null;
        try
        {
            if (saving.FirstOrDefault(i => i.WriteError != null) is { } failed)
            {
                throw Pop3Fetcher.SaveFailed(failed.Path, failed.WriteError!);
            }

            if (saving.Count > 0)
            {
                path = saving[0].Path;
                _files.MakeDurable(_openFolder!, saving.Select(i => (i.TemporaryPath, i.File)).ToList());
                foreach (var item in saving)
                {
                    path = item.Path;
                    item.File?.Dispose();
                    item.File = null;
                    _files.Rename(item.TemporaryPath, item.Path);
                    item.Renamed = true;
                }

                path = saving[0].Path;
                _files.MakeFolderDurable(_openFolder!);
            }
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw Pop3Fetcher.SaveFailed(path!, ex);
        }
        finally
        {
            CloseFolder();
        }
    }

    /// <summary>Drops the message being written, if any (it did not come whole).</summary>
    public void Abandon()
    {
        _worker.WaitIdle();
        if (_current != null)
        {
            Discard(_current);
            _current = null;
        }
    }

    /// <summary>Drops every temporary file not yet renamed. The worker must be stopped or idle.</summary>
    public void DiscardAll()
    {
        foreach (var item in _items.Where(i => i.Refusal == null && !i.Renamed))
        {
            Discard(item);
        }

        _items.Clear();
        CloseFolder();
    }

    private void CloseFolder()
    {
        _openFolder?.Dispose();
        _openFolder = null;
    }

    /// <summary>Writes a small message's temporary file, on the worker.</summary>
    private void Write(Item item)
    {
        try
        {
            item.File = _files.Write(_openFolder!, item.TemporaryPath, item.Bytes!, item.Length);
        }
        catch (Exception ex)
        {
            // Any failure, not only I/O: a lost one would leave the item without its file.
            item.WriteError = ex;
        }
        finally
        {
            Release(item);
            _writesLeft.Signal();
        }
    }

    private void Release(Item item)
    {
        if (item.Bytes != null)
        {
            ArrayPool<byte>.Shared.Return(item.Bytes);
            item.Bytes = null;
            _worker.Written(item.Length);
        }
    }

    /// <summary>Opens the temporary file of a message that outgrew its copy in memory.</summary>
    private Stream OpenFile(Item item)
    {
        try
        {
            item.File = _files.Create(item.TemporaryPath);
            return new DestinationStream(item.File);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw new DestinationWriteException(ex);
        }
    }

    private void Discard(Item item)
    {
        try
        {
            item.File?.Dispose();
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            // The file is deleted below all the same.
        }

        item.File = null;
        try
        {
            _files.Delete(item.TemporaryPath);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            // Nothing more to do; the message was not saved, and is not deleted from the server.
        }
    }

    /// <summary>A message of the batch; its write, for a small one, is a job of the worker.</summary>
    private sealed class Item : ISaveJob
    {
        private readonly SaveBatch _batch;

        public Item(SaveBatch batch, Pop3Entry entry, string path)
        {
            _batch = batch;
            Entry = entry;
            Path = path;
        }

        public Pop3Entry Entry { get; }
        public string Path { get; }
        public string TemporaryPath => Path + ".partial";
        public Stream? File { get; set; }
        public Pop3Message? Message { get; set; }
        public string? Refusal { get; set; }
        public bool Renamed { get; set; }
        public Exception? WriteError { get; set; }

        /// <summary>A small message's bytes (pooled, the first <see cref="Length"/> used) until written.</summary>
        public byte[]? Bytes { get; set; }
        public int Length { get; set; }

        public void Run() => _batch.Write(this);

        public void Skip()
        {
            _batch.Release(this);
            _batch._writesLeft.Signal();
        }
    }

    /// <summary>Keeps a message in memory up to a limit; past it, writes what it kept and the rest
    /// to the message's file.</summary>
    private sealed class TeeStream : WriteOnlyStream
    {
        private readonly SaveBatch _batch;
        private readonly Item _item;
        private readonly MemoryStream _copy;
        private readonly int _limit;
        private Stream? _file;

        public TeeStream(SaveBatch batch, Item item, MemoryStream copy, int limit)
        {
            _batch = batch;
            _item = item;
            _copy = copy;
            _limit = limit;
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (_file == null && _copy.Length + count <= _limit)
            {
                _copy.Write(buffer, offset, count);
                return;
            }

            if (_file == null)
            {
                _file = _batch.OpenFile(_item);
                _file.Write(_copy.GetBuffer(), 0, (int)_copy.Length);
                _copy.SetLength(0);
            }

            _file.Write(buffer, offset, count);
        }

        public override void Flush() => _file?.Flush();
    }
}
