using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// Messages being saved and not yet reported: each written to &lt;uid&gt;.eml.partial while it
/// streams in (and parsed from the same bytes), then, a batch at a time, made durable together,
/// renamed to &lt;uid&gt;.eml, and the folder made durable. Bounded in count and bytes, so that
/// open files and the work lost to a failure stay small.
/// </summary>
internal sealed class SaveBatch
{
    private const int MaxCount = 256;
    private const long MaxBytes = 32L * 1024 * 1024;

    // A message up to this size is parsed from a copy kept while it is written; a larger one
    // from its file, where the parser leaves its large parts.
    private const int MemoryCopyLimit = 1024 * 1024;

    private readonly string _folder;
    private readonly IMessageFiles _files;
    private readonly List<Item> _items = new();
    private long _bytes;
    private Item? _current;
    private TeeStream? _tee;

    public SaveBatch(string folder, IMessageFiles files)
    {
        _folder = folder;
        _files = files;
    }

    /// <summary>The final path of the message being written, for an error about it.</summary>
    public string? CurrentPath => _current?.Path;

    public bool IsFull => _items.Count >= MaxCount || _bytes >= MaxBytes;

    /// <summary>Starts the temporary file of <paramref name="entry"/>; the stream returned writes
    /// to it and, up to a limit, to <paramref name="copy"/>.</summary>
    public Stream Open(Pop3Entry entry, MemoryStream copy)
    {
        var path = Path.Combine(_folder, EmlFileName.FromUid(entry.Uid!));
        _current = new Item(entry, path);
        try
        {
            _current.File = _files.Create(_current.TemporaryPath);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw new DestinationWriteException(ex);
        }

        copy.SetLength(0);
        _tee = new TeeStream(new DestinationStream(_current.File), copy, MemoryCopyLimit);
        return _tee;
    }

    /// <summary>The message opened last came whole: hands its bytes to the system and parses it.</summary>
    public void Received(MemoryStream copy)
    {
        var item = _current!;
        item.File!.Flush();
        MimeKit.MimeMessage parsed;
        if (!_tee!.Overflowed)
        {
            copy.Position = 0;
            parsed = Pop3Message.Parse(copy, persistent: false);
            item.Message = Pop3Message.Create(item.Entry, parsed, headersOnly: false);
        }
        else
        {
            using var written = new FileStream(item.TemporaryPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            parsed = Pop3Message.Parse(written, persistent: true);
            item.Message = Pop3Message.Create(item.Entry, parsed, headersOnly: false);
        }

        item.Message.SavedPath = item.Path;
        _items.Add(item);
        _bytes += item.Entry.Size;
        _current = null;
        _tee = null;
    }

    public void Refused(Pop3Entry entry, string reply) => _items.Add(new Item(entry, null!) { Refusal = reply });

    /// <summary>Makes the batch durable under the final names, then gives its outcomes, in order;
    /// the saved messages are added to <paramref name="received"/> (they may now be deleted).</summary>
    public List<Pop3FetchOutcome> Complete(FetchTally tally, List<(Pop3Entry, Pop3Message?)> received)
    {
        var saving = _items.Where(i => i.File != null).ToList();
        string? path = null;
        try
        {
            if (saving.Count > 0)
            {
                path = saving[0].Path;
                _files.MakeDurable(_folder, saving.Select(i => (i.TemporaryPath, i.File!)).ToList());
                foreach (var item in saving)
                {
                    path = item.Path;
                    item.File!.Dispose();
                    item.File = null;
                    _files.Rename(item.TemporaryPath, item.Path);
                    item.Renamed = true;
                }

                path = saving[0].Path;
                _files.MakeFolderDurable(_folder);
            }
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw Pop3Fetcher.SaveFailed(path!, ex);
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

            received.Add((item.Entry, item.Message));
            outcomes.Add(tally.Outcome(item.Message, null));
        }

        _items.Clear();
        _bytes = 0;
        return outcomes;
    }

    /// <summary>Drops the message being written, if any (it did not come whole).</summary>
    public void Abandon()
    {
        if (_current != null)
        {
            Discard(_current);
            _current = null;
            _tee = null;
        }
    }

    /// <summary>Drops every temporary file not yet renamed.</summary>
    public void DiscardAll()
    {
        foreach (var item in _items.Where(i => i.Refusal == null && !i.Renamed))
        {
            Discard(item);
        }

        _items.Clear();
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
    }

    /// <summary>Writes to the file and to a copy in memory, until the copy would pass its limit.</summary>
    private sealed class TeeStream : Stream
    {
        private readonly Stream _file;
        private readonly MemoryStream _copy;
        private readonly int _limit;

        public TeeStream(Stream file, MemoryStream copy, int limit)
        {
            _file = file;
            _copy = copy;
            _limit = limit;
        }

        public bool Overflowed { get; private set; }

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
            _file.Write(buffer, offset, count);
            if (Overflowed)
            {
                return;
            }

            if (_copy.Length + count > _limit)
            {
                Overflowed = true;
                _copy.SetLength(0);
                return;
            }

            _copy.Write(buffer, offset, count);
        }

        public override void Flush() => _file.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
