using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace MailProtocols.Engine.Pop3;

/// <summary>What Get-Pop3Message asked for.</summary>
public sealed class Pop3FetchRequest
{
    /// <summary>Only these UIDs (null: all).</summary>
    public IReadOnlyCollection<string>? Uids { get; set; }

    /// <summary>Only the newest (highest-numbered) N; 0: no limit.</summary>
    public int Newest { get; set; }

    /// <summary>Only the oldest (lowest-numbered) N; 0: no limit.</summary>
    public int Oldest { get; set; }

    /// <summary>Download whole messages (RETR) instead of headers (TOP n 0).</summary>
    public bool IncludeBody { get; set; }

    /// <summary>A folder to save each message to as &lt;uid&gt;.eml; implies whole messages.</summary>
    public string? Destination { get; set; }

    /// <summary>Delete the messages that were safely received (and saved): they are marked once
    /// all of them were downloaded, and deleted by the server at QUIT.</summary>
    public bool Delete { get; set; }

    public bool WholeMessages => IncludeBody || Destination != null || Delete;
}

/// <summary>One step of a fetch: a message, an error about one message, or a note.</summary>
public sealed class Pop3FetchOutcome
{
    public Pop3Message? Message { get; init; }
    public MailOperationException? Error { get; init; }
    public string? Note { get; init; }

    /// <summary>Messages handled so far, of <see cref="Total"/>; bytes likewise (both 0 when only
    /// headers are read).</summary>
    public int Done { get; init; }
    public int Total { get; init; }
    public long Bytes { get; init; }
    public long TotalBytes { get; init; }
}

/// <summary>
/// Get-Pop3Message's work on an open session: select, download or read headers, save atomically,
/// mark for deletion only what was safely received. Never sends QUIT: the caller does, once,
/// after everything went well; without it the server deletes nothing.
/// </summary>
public static class Pop3Fetcher
{
    private const int HeaderBatch = 100;

    public static IEnumerable<Pop3FetchOutcome> Fetch(Pop3Session session, Pop3FetchRequest request, string endpoint)
    {
        var all = session.List();
        if ((request.Uids != null || request.Destination != null || request.Delete) && !session.SupportsUidl)
        {
            throw new MailOperationException("UidlNotSupported", MailErrorKind.NotImplemented, endpoint,
                $"The server {endpoint} has no UIDL, so messages have no stable ID: selecting by -Uid, saving with " +
                "-Destination (files are named by UID) and -Delete are refused rather than guessed.") { IsSessionFailure = true };
        }

        var selected = Select(all, request, out var missing);
        foreach (var uid in missing)
        {
            yield return new Pop3FetchOutcome
            {
                Error = new MailOperationException("MessageNotFound", MailErrorKind.ObjectNotFound, uid, $"No message with UID '{uid}' is in the mailbox at {endpoint}."),
            };
        }

        var totalBytes = selected.Sum(e => e.Size);
        var outcomes = request.WholeMessages
            ? Download(session, request, selected, endpoint, totalBytes)
            : Headers(session, selected);
        foreach (var outcome in outcomes)
        {
            yield return outcome;
        }
    }

    /// <summary>Sender and subject of <paramref name="entries"/>, from their headers (TOP n 0),
    /// for a confirmation prompt that names what it deletes. Null for a message whose headers the
    /// server would not show; all null on a server without TOP.</summary>
    public static IReadOnlyList<Pop3Message?> ReadSummaries(Pop3Session session, IReadOnlyList<Pop3Entry> entries)
    {
        IReadOnlyList<byte[]?> headers;
        try
        {
            headers = session.ReadHeaders(entries);
        }
        catch (MailOperationException ex) when (ex.ErrorId == "TopNotSupported")
        {
            return new Pop3Message?[entries.Count];
        }

        return entries.Select((entry, i) =>
        {
            if (headers[i] == null)
            {
                return null;
            }

            using var stream = new MemoryStream(headers[i]!);
            return Pop3Message.Create(entry, Pop3Message.Parse(stream, false), headersOnly: true);
        }).ToList();
    }

    private static List<Pop3Entry> Select(IReadOnlyList<Pop3Entry> all, Pop3FetchRequest request, out List<string> missing)
    {
        missing = new List<string>();
        IEnumerable<Pop3Entry> chosen = all;
        if (request.Uids != null)
        {
            var byUid = all.Where(e => e.Uid != null).GroupBy(e => e.Uid!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            missing = request.Uids.Where(u => !byUid.ContainsKey(u)).Distinct().ToList();
            var wanted = new HashSet<string>(request.Uids, StringComparer.Ordinal);
            chosen = all.Where(e => e.Uid != null && wanted.Contains(e.Uid));
        }

        var list = chosen.OrderBy(e => e.Number).ToList();
        if (request.Oldest > 0)
        {
            list = list.Take(request.Oldest).ToList();
        }

        if (request.Newest > 0)
        {
            list = list.Skip(Math.Max(0, list.Count - request.Newest)).ToList();
        }

        return list;
    }

    /// <summary>Reads the headers in batches. Its outcomes count messages only (no bytes): the
    /// sizes the server lists are those of whole messages, which are not downloaded here.</summary>
    private static IEnumerable<Pop3FetchOutcome> Headers(Pop3Session session, List<Pop3Entry> selected)
    {
        var done = 0;
        for (var first = 0; first < selected.Count; first += HeaderBatch)
        {
            var batch = selected.GetRange(first, Math.Min(HeaderBatch, selected.Count - first));
            var headers = session.ReadHeaders(batch);
            for (var i = 0; i < batch.Count; i++)
            {
                done++;
                if (headers[i] == null)
                {
                    yield return Unavailable(batch[i], "TOP", done, selected.Count, 0, 0);
                    continue;
                }

                using var stream = new MemoryStream(headers[i]!);
                var message = Pop3Message.Create(batch[i], Pop3Message.Parse(stream, false), headersOnly: true);
                yield return new Pop3FetchOutcome { Message = message, Done = done, Total = selected.Count };
            }
        }
    }

    /// <summary>Downloads (and saves) every selected message first; only then, when all of them
    /// went through, are the received ones marked for deletion, in one batch, so that a server
    /// that renumbers on DELE cannot make a later RETR read the wrong message.</summary>
    private static IEnumerable<Pop3FetchOutcome> Download(Pop3Session session, Pop3FetchRequest request, List<Pop3Entry> selected, string endpoint, long totalBytes)
    {
        var done = 0;
        long bytes = 0;
        var received = new List<(Pop3Entry Entry, Pop3Message? Message)>();
        foreach (var entry in selected)
        {
            done++;
            Pop3Message? message;
            string? refusal;
            string? note = null;
            if (request.Destination != null)
            {
                var path = Path.Combine(request.Destination, EmlFileName.FromUid(entry.Uid!));
                if (File.Exists(path))
                {
                    message = null;
                    refusal = null;
                    note = $"Message {entry.Uid} is already saved as {path}; not downloaded again.";
                }
                else
                {
                    message = SaveToFile(session, entry, path, out refusal);
                }
            }
            else
            {
                message = LoadIntoMemory(session, entry, out refusal);
            }

            bytes += entry.Size;
            if (refusal != null)
            {
                yield return Unavailable(entry, refusal, done, selected.Count, bytes, totalBytes);
                continue;
            }

            received.Add((entry, message));
            if (message != null)
            {
                message.MarkedForDeletion = request.Delete;
            }

            yield return new Pop3FetchOutcome { Message = message, Note = note, Done = done, Total = selected.Count, Bytes = bytes, TotalBytes = totalBytes };
        }

        if (!request.Delete || received.Count == 0)
        {
            yield break;
        }

        var refused = session.MarkDeleted(received.Select(r => r.Entry).ToList());
        foreach (var (entry, message) in received.Where(r => refused.ContainsKey(r.Entry.Number)))
        {
            if (message != null)
            {
                message.MarkedForDeletion = false;
            }

            yield return new Pop3FetchOutcome
            {
                Error = new MailOperationException("DeleteRefused", MailErrorKind.InvalidOperation, entry.Uid,
                    $"The server {endpoint} refused to delete message {entry.Uid}: {refused[entry.Number]}. It was downloaded and stays on the server."),
                Done = done,
                Total = selected.Count,
                Bytes = bytes,
                TotalBytes = totalBytes,
            };
        }
    }

    /// <summary>Streams the message into a temporary file beside the target, flushes it to disk,
    /// then renames it: a crash never leaves a truncated .eml under the final name.</summary>
    private static Pop3Message? SaveToFile(Pop3Session session, Pop3Entry entry, string path, out string? refusal)
    {
        var temporary = path + ".partial";
        var renamed = false;
        try
        {
            bool ok;
            using (var file = OpenForSaving(temporary))
            {
                var guarded = new DestinationStream(file);
                ok = session.Retrieve(entry, guarded, out refusal);
                guarded.Run(() => file.Flush(flushToDisk: true));
            }

            if (!ok)
            {
                return null;
            }

            File.Move(temporary, path);
            renamed = true;
            using var saved = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var message = Pop3Message.Create(entry, Pop3Message.Parse(saved, persistent: true), headersOnly: false);
            message.SavedPath = path;
            return message;
        }
        catch (DestinationWriteException ex)
        {
            throw SaveFailed(path, ex.InnerException!);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw SaveFailed(path, ex);
        }
        finally
        {
            if (!renamed)
            {
                try
                {
                    File.Delete(temporary);
                }
                catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
                {
                    // Nothing more to do; the error already says the message was not saved.
                }
            }
        }
    }

    private static FileStream OpenForSaving(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 81920);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw new DestinationWriteException(ex);
        }
    }

    /// <summary>A failure to write the .eml stops the command: the rest of the message is still on
    /// the wire, and nothing is deleted (no QUIT), so nothing is lost.</summary>
    private static MailOperationException SaveFailed(string path, Exception ex) =>
        new("SaveFailed", MailErrorKind.WriteError, path,
            $"Cannot save the message to '{path}': {ex.Message}. Nothing was deleted from the server.", ex) { IsSessionFailure = true };

    private static Pop3Message? LoadIntoMemory(Pop3Session session, Pop3Entry entry, out string? refusal)
    {
        var buffer = new MemoryStream();
        if (!session.Retrieve(entry, buffer, out refusal))
        {
            return null;
        }

        buffer.Position = 0;
        var parsed = Pop3Message.Parse(buffer, persistent: false);
        var message = Pop3Message.Create(entry, parsed, headersOnly: false);
        message.Message = parsed;
        return message;
    }

    private static Pop3FetchOutcome Unavailable(Pop3Entry entry, string reply, int done, int total, long bytes, long totalBytes) => new()
    {
        Error = new MailOperationException("MessageUnavailable", MailErrorKind.ResourceUnavailable, (object?)entry.Uid ?? entry.Number,
            $"The server refused to give message {entry.Uid ?? entry.Number.ToString()}: {reply}. It was not deleted."),
        Done = done,
        Total = total,
        Bytes = bytes,
        TotalBytes = totalBytes,
    };
}
