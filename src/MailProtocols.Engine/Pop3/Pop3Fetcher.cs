using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.ExceptionServices;

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

    /// <summary>On the last outcome of a fetch with Delete that sent DELE: how many of them the
    /// server accepted (the messages it deletes at QUIT). Null on every other outcome.</summary>
    public int? Deleted { get; init; }
}

/// <summary>
/// Get-Pop3Message's work on an open session: select, download or read headers, save atomically,
/// mark for deletion only what was safely received. Never sends QUIT: the caller does, once,
/// after everything went well; without it the server deletes nothing.
/// </summary>
public static class Pop3Fetcher
{
    // This many refusals of TOP in a row, before any worked, mean the server has no TOP.
    private const int TopProbe = 100;

    public static IEnumerable<Pop3FetchOutcome> Fetch(Pop3Session session, Pop3FetchRequest request, string endpoint) =>
        Fetch(session, request, endpoint, MessageFiles.Instance);

    internal static IEnumerable<Pop3FetchOutcome> Fetch(Pop3Session session, Pop3FetchRequest request, string endpoint, IMessageFiles files)
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
            ? Download(session, request, selected, endpoint, totalBytes, files)
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

    /// <summary>Reads the headers, yielding each message as its reply arrives. Its outcomes
    /// count messages only (no bytes): the sizes the server lists are those of whole messages,
    /// which are not downloaded here.</summary>
    private static IEnumerable<Pop3FetchOutcome> Headers(Pop3Session session, List<Pop3Entry> selected)
    {
        var buffer = new MemoryStream();
        var parser = Pop3Message.NewParser();
        var done = 0;

        // A server that cannot do TOP refuses it for every message (some even advertise it); one
        // that refuses a single message has a problem with that message only. Until a TOP has
        // worked, refusals wait here to tell the two apart.
        var refusedFirst = new List<(Pop3Entry Entry, string Reply)>();
        foreach (var (i, refusal) in session.Request(selected, headersOnly: true, _ =>
        {
            buffer.SetLength(0);
            return buffer;
        }))
        {
            if (refusal != null && !session.TopWorked)
            {
                refusedFirst.Add((selected[i], refusal));
                if (refusedFirst.Count == TopProbe)
                {
                    throw session.TopNotSupportedError(refusedFirst[0].Reply);
                }

                continue;
            }

            foreach (var (entry, reply) in refusedFirst)
            {
                yield return Unavailable(entry, reply, ++done, selected.Count, 0, 0);
            }

            refusedFirst.Clear();
            done++;
            if (refusal != null)
            {
                yield return Unavailable(selected[i], refusal, done, selected.Count, 0, 0);
                continue;
            }

            buffer.Position = 0;
            var message = HeaderSummary.Read(selected[i], parser, buffer);
            yield return new Pop3FetchOutcome { Message = message, Done = done, Total = selected.Count };
        }

        if (refusedFirst.Count > 0)
        {
            throw session.TopNotSupportedError(refusedFirst[0].Reply);
        }
    }

    /// <summary>Downloads (and saves) every selected message first; only then, when all of them
    /// went through, are the received ones marked for deletion, in one batch, so that a server
    /// that renumbers on DELE cannot make a later RETR read the wrong message.</summary>
    private static IEnumerable<Pop3FetchOutcome> Download(Pop3Session session, Pop3FetchRequest request, List<Pop3Entry> selected, string endpoint, long totalBytes, IMessageFiles files)
    {
        var tally = new FetchTally(selected.Count, totalBytes);
        var received = new List<(Pop3Entry Entry, DeletionMark? Mark)>();
        var outcomes = request.Destination != null
            ? Save(session, request.Destination, selected, files, tally, received)
            : LoadIntoMemory(session, selected, tally, received);
        foreach (var outcome in outcomes)
        {
            if (outcome.Message != null)
            {
                outcome.Message.MarkedForDeletion = request.Delete;
            }

            if (!request.Delete)
            {
                // Kept only to be deleted: holding 10,000 parsed messages here made every
                // garbage collection of a long download slower.
                received.Clear();
            }

            yield return outcome;
        }

        if (!request.Delete || received.Count == 0)
        {
            yield break;
        }

        var refused = session.MarkDeleted(received.Select(r => r.Entry).ToList());
        foreach (var (entry, mark) in received.Where(r => refused.ContainsKey(r.Entry.Number)))
        {
            if (mark != null)
            {
                mark.Marked = false;
            }

            yield return new Pop3FetchOutcome
            {
                Error = new MailOperationException("DeleteRefused", MailErrorKind.InvalidOperation, entry.Uid,
                    $"The server {endpoint} refused to delete message {entry.Uid}: {refused[entry.Number]}. It was downloaded and stays on the server."),
                Done = tally.Done,
                Total = tally.Total,
                Bytes = tally.Bytes,
                TotalBytes = tally.TotalBytes,
            };
        }

        yield return new Pop3FetchOutcome
        {
            Deleted = received.Count - refused.Count,
            Done = tally.Done,
            Total = tally.Total,
            Bytes = tally.Bytes,
            TotalBytes = tally.TotalBytes,
        };
    }

    private static IEnumerable<Pop3FetchOutcome> LoadIntoMemory(Pop3Session session, List<Pop3Entry> selected, FetchTally tally, List<(Pop3Entry, DeletionMark?)> received)
    {
        // Each message is downloaded into a stream of its own that its object keeps: only the
        // headers are parsed here, the rest when first asked for.
        MemoryStream? download = null;
        var parser = Pop3Message.NewParser();
        foreach (var (i, refusal) in session.Request(selected, headersOnly: false, n => download = Pop3Message.NewDownload(selected[n].Size)))
        {
            var entry = selected[i];
            tally.Count(entry);
            if (refusal != null)
            {
                yield return Unavailable(entry, refusal, tally);
                continue;
            }

            var message = Pop3Message.CreateInMemory(entry, parser, download!);
            download = null;
            received.Add((entry, message.Mark));
            yield return tally.Outcome(message, null);
        }
    }

    /// <summary>Saves the messages as .eml files, in batches: each streamed into a temporary
    /// file beside its target (and parsed from the same bytes), then the batch made durable,
    /// renamed, and the folder made durable, before its messages are reported as received. A
    /// crash never leaves a truncated .eml under its final name, and nothing not yet durable can
    /// be deleted. When the connection fails, the messages already received are saved first.</summary>
    private static IEnumerable<Pop3FetchOutcome> Save(Pop3Session session, string folder, List<Pop3Entry> selected, IMessageFiles files, FetchTally tally, List<(Pop3Entry, DeletionMark?)> received)
    {
        var wanted = new List<Pop3Entry>();
        var skipped = false;
        var claimed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in selected)
        {
            var path = Path.Combine(folder, EmlFileName.FromUid(entry.Uid!));
            if (!claimed.Add(path))
            {
                // A server that lists one UID twice: the second copy is neither saved over the first nor deleted.
                tally.Count(entry);
                yield return tally.Outcome(null, $"Message {entry.Number} has the UID {entry.Uid} of an earlier message; not downloaded.");
            }
            else if (files.Exists(path))
            {
                tally.Count(entry);
                skipped = true;
                received.Add((entry, null));
                yield return tally.Outcome(null, $"Message {entry.Uid} is already saved as {path}; not downloaded again.");
            }
            else
            {
                wanted.Add(entry);
            }
        }

        // Batch k is committed on the worker while batch k+1 downloads; its messages are
        // reported (and so may be deleted) only once its commit ended well. One commit at a time.
        var worker = new SaveWorker();
        var parser = Pop3Message.NewParser();
        var batch = new SaveBatch(folder, files, worker, parser);
        SaveBatch? committing = null;
        var copy = new MemoryStream();
        try
        {
            using var replies = session.Request(wanted, headersOnly: false, i => batch.Open(wanted[i], copy)).GetEnumerator();
            while (true)
            {
                Exception? failure;
                try
                {
                    if (!replies.MoveNext())
                    {
                        break;
                    }

                    var (i, refusal) = replies.Current;
                    if (refusal != null)
                    {
                        batch.Refused(wanted[i], refusal);
                    }
                    else
                    {
                        batch.Received(copy);
                    }

                    failure = null;
                }
                catch (DestinationWriteException ex)
                {
                    failure = SaveFailed(batch.CurrentPath!, ex.InnerException!);
                }
                catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
                {
                    failure = SaveFailed(batch.CurrentPath!, ex);
                }
                catch (MailOperationException ex)
                {
                    failure = ex;
                }

                if (failure != null)
                {
                    // What came whole before the failure is saved and reported, then the error.
                    batch.Abandon();
                    if (committing != null)
                    {
                        foreach (var outcome in committing.Outcomes(tally, received))
                        {
                            yield return outcome;
                        }

                        committing = null;
                    }

                    batch.Commit();
                    foreach (var outcome in batch.Outcomes(tally, received))
                    {
                        yield return outcome;
                    }

                    ExceptionDispatchInfo.Capture(failure).Throw();
                }

                if (committing != null && (committing.Committed || batch.IsFull))
                {
                    foreach (var outcome in committing.Outcomes(tally, received))
                    {
                        yield return outcome;
                    }

                    committing = null;
                }

                if (batch.IsFull)
                {
                    batch.Commit();
                    committing = batch;
                    batch = new SaveBatch(folder, files, worker, parser);
                }
            }

            if (committing != null)
            {
                foreach (var outcome in committing.Outcomes(tally, received))
                {
                    yield return outcome;
                }

                committing = null;
            }

            batch.Commit();
            foreach (var outcome in batch.Outcomes(tally, received))
            {
                yield return outcome;
            }

            if (skipped)
            {
                // A file saved by an earlier run that stopped after its rename: its name is made
                // durable before the message may be deleted.
                MakeFolderDurable(files, folder);
            }
        }
        finally
        {
            // Ctrl+C, or an error that could not be told apart: nothing unfinished stays behind.
            // Queued work gives up; a commit under way ends first.
            worker.Stop();
            batch.Abandon();
            committing?.DiscardAll();
            batch.DiscardAll();
        }
    }

    private static void MakeFolderDurable(IMessageFiles files, string folder)
    {
        try
        {
            using var opened = files.OpenFolder(folder);
            files.MakeFolderDurable(opened);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw SaveFailed(folder, ex);
        }
    }

    /// <summary>A failure to write the .eml stops the command: the rest of the message is still on
    /// the wire, and nothing is deleted (no QUIT), so nothing is lost.</summary>
    internal static MailOperationException SaveFailed(string path, Exception ex) =>
        new("SaveFailed", MailErrorKind.WriteError, path,
            $"Cannot save the message to '{path}': {ex.Message}. Nothing was deleted from the server.", ex) { IsSessionFailure = true };

    internal static Pop3FetchOutcome Unavailable(Pop3Entry entry, string reply, FetchTally tally) =>
        Unavailable(entry, reply, tally.Done, tally.Total, tally.Bytes, tally.TotalBytes);

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
