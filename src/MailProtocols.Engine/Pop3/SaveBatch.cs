using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// Messages being saved and not yet reported. Each is parsed from the bytes as they come (kept
/// in memory up to a limit, a larger one streamed into its file) and written to
/// &lt;uid&gt;.eml.partial; then, a batch at a time, the files are made durable together, renamed
/// to &lt;uid&gt;.eml, and the folder made durable. Bounded in count and bytes, so that open files,
/// memory and the work lost to a failure stay small.
/// </summary>
internal sealed class SaveBatch
{
    private const int MaxCount = 256;
    private const long MaxBytes = 32L * 1024 * 1024;

    // A message up to this size is parsed from a copy kept while it is written; a larger one
    // from its file, where the parser leaves its large parts.
    private const int MemoryCopyLimit = 1024 * 1024;
    private const long MaxUnwritten = 8L * 1024 * 1024; // bytes waiting for the background writer

    private readonly string _folder;
    private readonly IMessageFiles _files;
    private readonly List<Item> _items = new();
    private long _bytes;
    private Item? _current;
    private SaveFolder? _openFolder;
    private readonly MimeKit.MimeParser _parser = Pop3Message.NewParser();

    // Small messages waiting for the background writer, and the task draining them (one at a
    // time; started only when none runs, so that a writer that is behind takes the messages
    // queued meanwhile without a thread hand-off for each).
    private readonly ConcurrentQueue<(Item Item, byte[] Bytes)> _toWrite = new();
    private Task _writing = Task.CompletedTask;
    private int _writerRunning;
    private long _unwritten;

    public SaveBatch(string folder, IMessageFiles files)
    {
        _folder = folder;
        _files = files;
    }

    /// <summary>The final path of the message being written, for an error about it.</summary>
    public string? CurrentPath => _current?.Path;

    public bool IsFull => _items.Count >= MaxCount || _bytes >= MaxBytes;

    /// <summary>Starts a message: the stream returned keeps it in <paramref name="copy"/> up to a
    /// limit, and past it opens its temporary file and streams on into that.</summary>
    public Stream Open(Pop3Entry entry, MemoryStream copy)
    {
        var path = Path.Combine(_folder, EmlFileName.FromUid(entry.Uid!));
        _current = new Item(entry, path);
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
    /// file (a small one by a background writer, so that creating files, the slowest step of
    /// saving small messages, overlaps the download).</summary>
    public void Received(MemoryStream copy)
    {
        var item = _current!;
        if (item.File == null)
        {
            var bytes = copy.ToArray();
            if (Interlocked.Add(ref _unwritten, bytes.Length) > MaxUnwritten)
            {
                // A disk slower than the network: wait rather than hold more in memory.
                WaitForWriter();
            }

            _toWrite.Enqueue((item, bytes));
            if (Interlocked.CompareExchange(ref _writerRunning, 1, 0) == 0)
            {
                _writing = Task.Run(WriteQueued);
            }

            copy.Position = 0;
            item.Message = Pop3Message.Create(item.Entry, Pop3Message.Parse(_parser, copy), headersOnly: false);
        }
        else
        {
            // The parser leaves the large parts in the file and reads them from there.
            item.File.Flush();
            using var written = new FileStream(item.TemporaryPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            item.Message = Pop3Message.Create(item.Entry, Pop3Message.Parse(written, persistent: true), headersOnly: false);
        }

        item.Message.SavedPath = item.Path;
        _items.Add(item);
        _bytes += item.Entry.Size;
        _current = null;
    }

    public void Refused(Pop3Entry entry, string reply) => _items.Add(new Item(entry, null!) { Refusal = reply });

    /// <summary>Makes the batch durable under the final names, then gives its outcomes, in order;
    /// the saved messages are added to <paramref name="received"/> (they may now be deleted).</summary>
    public List<Pop3FetchOutcome> Complete(FetchTally tally, List<(Pop3Entry, DeletionMark?)> received)
    {
        WaitForWriter();
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
                _files.MakeDurable(_openFolder!, saving.Select(i => (i.TemporaryPath, i.File!)).ToList());
                foreach (var item in saving)
                {
                    path = item.Path;
                    item.File!.Dispose();
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

    /// <summary>Drops the message being written, if any (it did not come whole).</summary>
    public void Abandon()
    {
        WaitForWriter();
        if (_current != null)
        {
            Discard(_current);
            _current = null;
        }
    }

    /// <summary>Drops every temporary file not yet renamed.</summary>
    public void DiscardAll()
    {
        WaitForWriter();
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

    /// <summary>Returns once every queued message has been written (or failed).</summary>
    private void WaitForWriter()
    {
        while (!_toWrite.IsEmpty || Volatile.Read(ref _writerRunning) == 1)
        {
            _writing.Wait();
            if (Volatile.Read(ref _writerRunning) == 0 && !_toWrite.IsEmpty && Interlocked.CompareExchange(ref _writerRunning, 1, 0) == 0)
            {
                // Queued after the last writer looked: written here.
                WriteQueued();
            }
        }
    }

    private void WriteQueued()
    {
        while (true)
        {
            while (_toWrite.TryDequeue(out var next))
            {
                WriteInBackground(next.Item, next.Bytes);
            }

            Volatile.Write(ref _writerRunning, 0);

            // A message queued after the loop above found the queue empty, whose reader saw the
            // writer still running: take it, unless a new writer already did.
            if (_toWrite.IsEmpty || Interlocked.CompareExchange(ref _writerRunning, 1, 0) != 0)
            {
                return;
            }
        }
    }

    private void WriteInBackground(Item item, byte[] bytes)
    {
        try
        {
            Interlocked.Add(ref _unwritten, -bytes.Length);
            var file = _files.Create(item.TemporaryPath);
            item.File = file;
            file.Write(bytes, 0, bytes.Length);
            file.Flush();
        }
        catch (Exception ex)
        {
            // Any failure, not only I/O: a lost one would leave the item without its file.
            item.WriteError = ex;
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

    private sealed class Item
    {
        public Item(Pop3Entry entry, string path)
        {
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
    }

    /// <summary>Keeps a message in memory up to a limit; past it, writes what it kept and the rest
    /// to the message's file.</summary>
    private sealed class TeeStream : Stream
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

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
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

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
