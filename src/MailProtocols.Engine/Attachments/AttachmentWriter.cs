using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Threading;
using MailProtocols.Engine.Pop3;

namespace MailProtocols.Engine.Attachments;

/// <summary>What became of one attachment: written under <see cref="Path"/>, or skipped because
/// a file with the same bytes is already there.</summary>
public sealed class AttachmentOutcome
{
    internal AttachmentOutcome(MailAttachment attachment, string path, bool written)
    {
        Attachment = attachment;
        Path = path;
        Written = written;
    }

    public MailAttachment Attachment { get; }
    public string Path { get; }
    public bool Written { get; }
}

/// <summary>
/// Saves attachments into one folder with the durable steps of the POP3 -Destination path
/// (<see cref="MessageFiles"/>): each decoded, as a stream, into a temporary file in the folder;
/// the files made durable together; each renamed to its final name; the folder made durable. A
/// crash leaves no half file under a final name. A name already taken by the same bytes is
/// skipped; by other bytes, the new file gets the first 8 hex digits of its SHA-256 as a suffix
/// ("report (1a2b3c4d).csv"), so that a re-run finds it again; -Force replaces the file instead.
/// </summary>
public sealed class AttachmentWriter
{
    private readonly string _folder;
    private readonly MessageFiles _files;

    public AttachmentWriter(string folder)
        : this(folder, MessageFiles.Instance)
    {
    }

    internal AttachmentWriter(string folder, MessageFiles files)
    {
        _folder = System.IO.Path.GetFullPath(folder);
        _files = files;
    }

    /// <summary>The path an attachment is saved under when its name is free.</summary>
    public string PathOf(MailAttachment attachment) => Inside(attachment.FileName);

    /// <summary>Saves the attachments of one message; AttachmentWriteFailed (nothing of this
    /// message left half written) when the folder refuses a write.</summary>
    public IReadOnlyList<AttachmentOutcome> Save(IReadOnlyList<MailAttachment> attachments, bool force, CancellationToken cancel)
    {
        var outcomes = new List<AttachmentOutcome>(attachments.Count);
        if (attachments.Count == 0)
        {
            return outcomes;
        }

        var pending = new List<Pending>(attachments.Count);
        var target = Inside(attachments[0].FileName);
        try
        {
            using var folder = _files.OpenFolder(_folder);
            for (var i = 0; i < attachments.Count; i++)
            {
                var attachment = attachments[i];
                target = Inside(attachment.FileName);
                // The index keeps two parts of one name apart; the leading dot keeps a temporary
                // name from ever being an attachment's (safe names never start with one).
                var temporaryPath = Inside($".{attachment.FileName}.{i}.partial");
                if (AlreadySaved(attachment, force, cancel) is { } saved)
                {
                    // A re-run: nothing written, nothing to make durable; a temporary file of a
                    // run killed before it renamed this one is dropped.
                    if (File.Exists(temporaryPath))
                    {
                        _files.Delete(temporaryPath);
                    }

                    outcomes.Add(new AttachmentOutcome(attachment, saved, written: false));
                    continue;
                }

                var item = new Pending(attachment, temporaryPath);
                pending.Add(item);
                item.File = _files.Create(item.TemporaryPath);
                using (var hashing = new HashingStream(item.File))
                {
                    // A part without content is an empty file.
                    attachment.Part.Content?.DecodeTo(hashing, cancel);
                    item.Hash = hashing.Finish();
                }

                item.File.Flush();
            }

            if (pending.Count == 0)
            {
                return outcomes;
            }

            var files = new List<(string, Stream?)>(pending.Count);
            foreach (var item in pending)
            {
                files.Add((item.TemporaryPath, item.File!));
            }

            _files.MakeDurable(folder, files);
            foreach (var item in pending)
            {
                target = Inside(item.Attachment.FileName);
                item.File!.Dispose();
                item.File = null;
                outcomes.Add(Place(item, force));
                item.Done = true;
            }

            _files.MakeFolderDurable(folder);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw new MailOperationException("AttachmentWriteFailed", MailErrorKind.WriteError, target,
                $"Cannot save the attachment as '{target}': {ex.Message}", ex);
        }
        finally
        {
            foreach (var item in pending)
            {
                if (!item.Done)
                {
                    Discard(item);
                }
            }
        }

        return outcomes;
    }

    /// <summary>The path of a file that already holds this attachment's bytes, under its name or
    /// a name <see cref="Place"/> would have given it; null when there is none. Compared as it is
    /// decoded, so that a re-run writes nothing at all.</summary>
    private string? AlreadySaved(MailAttachment attachment, bool force, CancellationToken cancel)
    {
        var name = attachment.FileName;
        var path = Inside(name);
        string? suffix = null;
        for (var n = 1; File.Exists(path); n++)
        {
            using (var existing = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 81920))
            using (var probe = new HashingStream(Stream.Null, existing))
            {
                attachment.Part.Content?.DecodeTo(probe, cancel);
                var hash = probe.Finish();
                if (probe.Same)
                {
                    return path;
                }

                suffix ??= hash.Substring(0, 8);
            }

            if (force)
            {
                // -Force writes over the name itself, never under a suffix.
                return null;
            }

            path = Inside(AttachmentFileName.WithSuffix(name, n == 1 ? suffix : $"{suffix}-{n}"));
        }

        return null;
    }

    /// <summary>Renames the temporary file to the first name that is free or already holds the
    /// same bytes (then the temporary file is dropped).</summary>
    private AttachmentOutcome Place(Pending item, bool force)
    {
        var name = item.Attachment.FileName;
        var path = Inside(name);
        if (force)
        {
            if (File.Exists(path) && SameBytes(item.TemporaryPath, path))
            {
                return Skip(item, path);
            }

            _files.Replace(item.TemporaryPath, path);
            return new AttachmentOutcome(item.Attachment, path, written: true);
        }

        var suffix = item.Hash.Substring(0, 8);
        for (var n = 1; ; n++)
        {
            if (!File.Exists(path))
            {
                _files.Rename(item.TemporaryPath, path);
                return new AttachmentOutcome(item.Attachment, path, written: true);
            }

            if (SameBytes(item.TemporaryPath, path))
            {
                return Skip(item, path);
            }

            // The hash suffix first; a number after it only if even that name holds other bytes.
            path = Inside(AttachmentFileName.WithSuffix(name, n == 1 ? suffix : $"{suffix}-{n}"));
        }
    }

    private AttachmentOutcome Skip(Pending item, string path)
    {
        _files.Delete(item.TemporaryPath);
        return new AttachmentOutcome(item.Attachment, path, written: false);
    }

    /// <summary>The full path of a name in the folder, checked to be directly in it.</summary>
    private string Inside(string name)
    {
        var path = System.IO.Path.GetFullPath(System.IO.Path.Combine(_folder, name));
        if (!string.Equals(System.IO.Path.GetDirectoryName(path), _folder.TrimEnd(System.IO.Path.DirectorySeparatorChar, System.IO.Path.AltDirectorySeparatorChar), StringComparison.Ordinal)
            && !string.Equals(System.IO.Path.GetDirectoryName(path), _folder, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The attachment name '{name}' leads out of '{_folder}'.");
        }

        return path;
    }

    private static bool SameBytes(string a, string b)
    {
        using var first = new FileStream(a, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        using var second = new FileStream(b, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        if (first.Length != second.Length)
        {
            return false;
        }

        var one = new byte[81920];
        var two = new byte[81920];
        while (true)
        {
            var read = ReadFull(first, one);
            if (read == 0)
            {
                return true;
            }

            if (ReadFull(second, two) != read)
            {
                return false;
            }

            for (var i = 0; i < read; i++)
            {
                if (one[i] != two[i])
                {
                    return false;
                }
            }
        }
    }

    private static int ReadFull(Stream stream, byte[] buffer) => ReadFull(stream, buffer, buffer.Length);

    private static int ReadFull(Stream stream, byte[] buffer, int count)
    {
        var total = 0;
        int read;
        while (total < count && (read = stream.Read(buffer, total, count - total)) > 0)
        {
            total += read;
        }

        return total;
    }

    private void Discard(Pending item)
    {
        try
        {
            item.File?.Dispose();
            _files.Delete(item.TemporaryPath);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            // Left behind: the next save of this name replaces it (MessageFiles.Create).
        }
    }

    private sealed class Pending
    {
        public Pending(MailAttachment attachment, string temporaryPath)
        {
            Attachment = attachment;
            TemporaryPath = temporaryPath;
        }

        public MailAttachment Attachment { get; }
        public string TemporaryPath { get; }
        public Stream? File { get; set; }
        public string Hash { get; set; } = "";
        public bool Done { get; set; }
    }

    /// <summary>Passes writes on to the file and hashes them, without closing the file; given an
    /// existing file, also compares them with its bytes.</summary>
    private sealed class HashingStream : WriteOnlyStream
    {
        private readonly Stream _inner;
        private readonly Stream? _compared;
        private readonly SHA256 _sha = SHA256.Create();
        private byte[] _buffer = Array.Empty<byte>();
        private bool _same = true;

        public HashingStream(Stream inner, Stream? compared = null)
        {
            _inner = inner;
            _compared = compared;
        }

        /// <summary>After <see cref="Finish"/>: whether the compared file held exactly the bytes written.</summary>
        public bool Same => _same && _compared != null;

        public override void Write(byte[] buffer, int offset, int count)
        {
            _sha.TransformBlock(buffer, offset, count, null, 0);
            _inner.Write(buffer, offset, count);
            if (_compared != null && _same)
            {
                if (_buffer.Length < count)
                {
                    _buffer = new byte[count];
                }

                var read = ReadFull(_compared, _buffer, count);
                for (var i = 0; _same && i < count; i++)
                {
                    _same = i < read && _buffer[i] == buffer[offset + i];
                }
            }
        }

        public string Finish()
        {
            if (_compared != null && _same)
            {
                _same = _compared.ReadByte() < 0;
            }

            _sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
            return BitConverter.ToString(_sha.Hash!).Replace("-", "").ToLowerInvariant();
        }

        public override void Flush() => _inner.Flush();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _sha.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
