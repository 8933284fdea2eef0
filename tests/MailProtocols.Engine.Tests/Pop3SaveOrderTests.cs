using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using MailProtocols.Engine.Pop3;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>
/// Saving with -Destination -Delete, against a scripted POP3 server on loopback, with every file
/// operation and every DELE the server receives recorded in one log: per message, the order must
/// be write, durable, rename, folder durable, and only then DELE.
/// </summary>
public sealed class Pop3SaveOrderTests : IDisposable
{
    private readonly List<string> _log = new();
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "pop3-save-order-" + Guid.NewGuid().ToString("N"));

    public Pop3SaveOrderTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private void Record(string line)
    {
        lock (_log)
        {
            _log.Add(line);
        }

        if (line == _signalLine)
        {
            _lineSeen.Set();
        }
    }

    private string? _signalLine; // a line whose recording sets _lineSeen
    private readonly ManualResetEventSlim _lineSeen = new();

    private sealed class RecordingFiles : IMessageFiles
    {
        private readonly Action<string> _record;

        public RecordingFiles(Action<string> record) => _record = record;

        /// <summary>Gives the failure a Create of that temporary file name throws, if any.</summary>
        public Func<string, Exception?> FailCreate { get; init; } = _ => null;

        /// <summary>Called with the batch's folder number before each batch is made durable, on
        /// the thread that does it: a test may hold the commit there.</summary>
        public Action<int> BeforeDurable { get; init; } = _ => { };

        private readonly Dictionary<SaveFolder, int> _folders = new();

        /// <summary>The number of a folder opened for a batch, counted from 1: lines name it, so
        /// that each message is checked against its own batch's open and flushes.</summary>
        private int Number(SaveFolder folder)
        {
            lock (_folders)
            {
                if (!_folders.TryGetValue(folder, out var number))
                {
                    _folders[folder] = number = _folders.Count + 1;
                }

                return number;
            }
        }

        public bool Exists(string path) => MessageFiles.Instance.Exists(path);

        public SaveFolder OpenFolder(string folder)
        {
            var opened = MessageFiles.Instance.OpenFolder(folder);
            _record($"open folder #{Number(opened)}");
            return opened;
        }

        public Stream Create(string temporaryPath) => FailCreate(Path.GetFileName(temporaryPath)) is { } failure ? throw failure : new RecordingStream(MessageFiles.Instance.Create(temporaryPath), () => _record("write " + Path.GetFileName(temporaryPath)));

        public Stream? Write(SaveFolder folder, string temporaryPath, byte[] bytes, int length)
        {
            if (FailCreate(Path.GetFileName(temporaryPath)) is { } failure)
            {
                throw failure;
            }

            var file = MessageFiles.Instance.Write(folder, temporaryPath, bytes, length);
            _record("write " + Path.GetFileName(temporaryPath));
            return file == null ? null : new RecordingStream(file, () => { });
        }

        public void MakeDurable(SaveFolder folder, IReadOnlyList<(string Path, Stream? File)> files)
        {
            BeforeDurable(Number(folder));
            foreach (var file in files)
            {
                _record($"durable {Path.GetFileName(file.Path)} #{Number(folder)}");
            }

            MessageFiles.Instance.MakeDurable(folder, files.Select(f => (f.Path, ((RecordingStream?)f.File)?.Inner)).ToList());
        }

        public void Rename(string temporaryPath, string path)
        {
            _record("rename " + Path.GetFileName(temporaryPath));
            MessageFiles.Instance.Rename(temporaryPath, path);
        }

        public void MakeFolderDurable(SaveFolder folder)
        {
            _record($"folder #{Number(folder)}");
            MessageFiles.Instance.MakeFolderDurable(folder);
        }

        public void Delete(string temporaryPath) => MessageFiles.Instance.Delete(temporaryPath);
    }

    /// <summary>Records each write, and writes through.</summary>
    private sealed class RecordingStream : Stream
    {
        private readonly Action _written;

        public RecordingStream(Stream inner, Action written)
        {
            Inner = inner;
            _written = written;
        }

        public Stream Inner { get; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Inner.Length;

        public override long Position
        {
            get => Inner.Position;
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            _written();
            Inner.Write(buffer, offset, count);
        }

        public override void Flush() => Inner.Flush();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private int _large; // the number of a message over 1 MB, streamed to its file as it comes
    private int _dropAt; // the RETR after which the server drops the connection mid-message
    private int _signalAt; // the RETR whose arrival sets _signal
    private readonly ManualResetEventSlim _signal = new();

    private string Message(int n) =>
        $"Subject: message {n}\r\nMessage-Id: <{n}@test>\r\n\r\nbody {n}\r\n" + (n == _large ? string.Concat(Enumerable.Repeat(new string('x', 998) + "\r\n", 1500)) : "");

    /// <summary>A POP3 server with PIPELINING and <paramref name="count"/> messages, UIDs
    /// "m1".."mN"; it records each DELE it receives.</summary>
    private void Serve(Socket peer, int count)
    {
        using var stream = new NetworkStream(peer);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n" };
        writer.WriteLine("+OK ready");
        writer.Flush();
        string? line;
        var dropped = false;
        while ((line = reader.ReadLine()) != null)
        {
            var parts = line.Split(' ');
            if (parts[0].ToUpperInvariant() == "RETR" && int.Parse(parts[1]) == _signalAt)
            {
                Record("RETR " + _signalAt);
                _signal.Set();
            }

            if (dropped)
            {
                // Read to the end, so that closing sends no reset that could discard replies already sent.
                continue;
            }

            if (parts[0].ToUpperInvariant() == "RETR" && int.Parse(parts[1]) == _dropAt)
            {
                var text = Message(_dropAt);
                writer.Write("+OK\r\n" + text.Substring(0, text.Length / 2));
                writer.Flush();
                peer.Shutdown(SocketShutdown.Send);
                dropped = true;
                continue;
            }

            switch (parts[0].ToUpperInvariant())
            {
                case "CAPA":
                    writer.Write("+OK\r\nUSER\r\nUIDL\r\nTOP\r\nPIPELINING\r\n.\r\n");
                    break;
                case "LIST":
                    writer.WriteLine("+OK");
                    for (var n = 1; n <= count; n++)
                    {
                        writer.WriteLine($"{n} {Message(n).Length}");
                    }

                    writer.WriteLine(".");
                    break;
                case "UIDL":
                    writer.WriteLine("+OK");
                    for (var n = 1; n <= count; n++)
                    {
                        writer.WriteLine($"{n} m{n}");
                    }

                    writer.WriteLine(".");
                    break;
                case "RETR":
                    writer.Write("+OK\r\n" + Message(int.Parse(parts[1])) + ".\r\n");
                    break;
                case "DELE":
                    Record("DELE m" + parts[1]);
                    writer.WriteLine("+OK");
                    break;
                case "QUIT":
                    writer.WriteLine("+OK bye");
                    writer.Flush();
                    return;
                default:
                    writer.WriteLine("+OK");
                    break;
            }

            // Replies go out when the client has sent all it had: pipelined commands are answered together.
            if (peer.Available == 0)
            {
                writer.Flush();
            }
        }
    }

    private void SaveAndDelete(int count) => SaveAndDelete(count, new RecordingFiles(Record));

    private void SaveAndDelete(int count, IMessageFiles files, CancellationToken token = default)
    {
        using var server = new LoopbackServer((peer, _) => Serve(peer, count));
        var settings = new ConnectionSettings
        {
            Host = "127.0.0.1",
            Port = server.Port,
            TlsMode = TlsMode.None,
            AllowUnencryptedAuthentication = true,
            Credential = new NetworkCredential("alice", "secret"),
            Timeout = TimeSpan.FromSeconds(20),
        };
        using var session = new Pop3Session(settings, null, token);
        session.Open();
        var request = new Pop3FetchRequest { Destination = _folder, Delete = true };
        var outcomes = Pop3Fetcher.Fetch(session, request, settings.Endpoint, files).ToList();
        session.Quit();
        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.Equal(count, outcomes.Count(o => o.Message != null));
    }

    /// <summary>Asserts the order of the file operations of message <paramref name="n"/>: its
    /// batch's folder opened, every write, durable, rename, its batch's folder made durable;
    /// gives the index of that last step.</summary>
    private int AssertSavedInOrder(List<string> log, int n)
    {
        var write = log.IndexOf($"write m{n}.eml.partial");
        var lastWrite = log.LastIndexOf($"write m{n}.eml.partial");
        var durable = log.FindIndex(e => e.StartsWith($"durable m{n}.eml.partial #", StringComparison.Ordinal));
        var rename = log.IndexOf($"rename m{n}.eml.partial");
        Assert.True(write >= 0, $"m{n} was never written");
        Assert.True(durable >= 0, $"m{n} was never made durable");
        var batch = log[durable].Substring(log[durable].LastIndexOf('#'));
        var opened = log.IndexOf($"open folder {batch}");
        var folder = log.IndexOf($"folder {batch}");
        Assert.True(opened >= 0 && opened < write, $"m{n}: written at {write} before its batch {batch} opened the folder at {opened}");
        Assert.True(durable > lastWrite, $"m{n}: made durable at {durable}, written at {lastWrite}");
        Assert.True(rename > durable, $"m{n}: renamed at {rename}, made durable at {durable}");
        Assert.True(folder > rename, $"m{n}: its batch {batch} did not make the folder durable after its rename at {rename} (at {folder})");
        Assert.Equal(Message(n), File.ReadAllText(Path.Combine(_folder, $"m{n}.eml")));
        return folder;
    }

    [Theory]
    [InlineData(3, 0)]
    [InlineData(3, 2)] // message 2 over 1 MB
    [InlineData(600, 0)] // several batches
    public void EachMessageIsWrittenMadeDurableRenamedAndItsFolderMadeDurableBeforeItsDele(int count, int large)
    {
        _large = large;
        SaveAndDelete(count);
        var log = _log.ToList();
        for (var n = 1; n <= count; n++)
        {
            var folder = AssertSavedInOrder(log, n);
            var dele = log.IndexOf($"DELE m{n}");
            Assert.True(dele > folder, $"m{n}: DELE at {dele}, the folder made durable at {folder}");
        }

        if (large != 0)
        {
            Assert.True(log.Count(e => e == $"write m{large}.eml.partial") > 1, "the large message was not streamed to its file");
        }

        // Batched: far fewer folder flushes than messages.
        Assert.True(log.Count(e => e.StartsWith("folder #", StringComparison.Ordinal)) <= Math.Max(1, count / 100), $"{log.Count(e => e.StartsWith("folder #", StringComparison.Ordinal))} folder flushes");
        Assert.Empty(Directory.GetFiles(_folder, "*.partial"));
    }

    public static TheoryData<Exception> CreateFailures => new() { new IOException("disk full"), new InvalidOperationException("not an I/O error") };

    [Theory]
    [MemberData(nameof(CreateFailures))]
    public void AFileThatCannotBeCreatedIsSaveFailedNamingItsPathAndNothingIsDeleted(Exception failure)
    {
        var files = new RecordingFiles(Record) { FailCreate = name => name == "m2.eml.partial" ? failure : null };
        var error = Assert.Throws<MailOperationException>(() => SaveAndDelete(3, files));
        Assert.Equal("SaveFailed", error.ErrorId);
        Assert.Equal(Path.Combine(_folder, "m2.eml"), error.Target);
        Assert.Same(failure, error.InnerException);
        Assert.DoesNotContain(_log, e => e.StartsWith("DELE", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFiles(_folder, "*.partial"));
        Assert.False(File.Exists(Path.Combine(_folder, "m2.eml")));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference Track(object message) => new(message);

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // in memory, each holding its parsed message
    public void WithDeleteAnEmittedMessageIsNotHeldUntilTheEnd(bool save)
    {
        const int count = 600;
        using var server = new LoopbackServer((peer, _) => Serve(peer, count));
        var settings = new ConnectionSettings
        {
            Host = "127.0.0.1",
            Port = server.Port,
            TlsMode = TlsMode.None,
            AllowUnencryptedAuthentication = true,
            Credential = new NetworkCredential("alice", "secret"),
            Timeout = TimeSpan.FromSeconds(20),
        };
        using var session = new Pop3Session(settings, null, CancellationToken.None);
        session.Open();
        var request = new Pop3FetchRequest { Destination = save ? _folder : null, Delete = true };
        using var outcomes = Pop3Fetcher.Fetch(session, request, settings.Endpoint, new RecordingFiles(Record)).GetEnumerator();
        Assert.True(outcomes.MoveNext());
        var first = Track(outcomes.Current.Message!);
        Pop3Message? last = null;
        for (var n = 2; n <= count; n++)
        {
            Assert.True(outcomes.MoveNext());
            last = outcomes.Current.Message;
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(first.IsAlive, "the first message is still held after the last was emitted");
        Assert.DoesNotContain(_log, e => e.StartsWith("DELE", StringComparison.Ordinal));
        while (outcomes.MoveNext())
        {
        }

        Assert.Equal(count, _log.Count(e => e.StartsWith("DELE", StringComparison.Ordinal)));
        Assert.True(last!.MarkedForDeletion);
    }

    [Fact]
    public void ADroppedConnectionSavesTheMessagesReceivedBeforeItAndDeletesNothing()
    {
        _dropAt = 4;
        _large = 2;
        var error = Assert.Throws<MailOperationException>(() => SaveAndDelete(5));
        Record("error");
        Assert.Equal("ConnectionLost", error.ErrorId);
        var log = _log.ToList();
        for (var n = 1; n <= 3; n++)
        {
            Assert.True(AssertSavedInOrder(log, n) < log.IndexOf("error"));
        }

        Assert.DoesNotContain(log, e => e.StartsWith("DELE", StringComparison.Ordinal));
        Assert.Equal(new[] { "m1.eml", "m2.eml", "m3.eml" }, Directory.GetFiles(_folder).Select(Path.GetFileName).OrderBy(f => f));
    }

    /// <summary>Holds the first batch's durable step until the server has been asked for
    /// message <paramref name="retr"/> and, if given, <paramref name="line"/> was recorded (at
    /// most 10 s each), as a slow disk would.</summary>
    private RecordingFiles HoldFirstCommitUntilRetr(int retr, Action? then = null, string? line = null)
    {
        _signalAt = retr;
        _signalLine = line;
        return new RecordingFiles(Record)
        {
            BeforeDurable = batch =>
            {
                if (batch == 1)
                {
                    _signal.Wait(TimeSpan.FromSeconds(10));
                    if (line != null)
                    {
                        _lineSeen.Wait(TimeSpan.FromSeconds(10));
                    }

                    then?.Invoke();
                    Record("first commit goes on");
                }
            },
        };
    }

    [Fact]
    public void ABatchIsCommittedWhileTheNextDownloadsAndNoMessageIsDeletedBeforeItsOwnBatchsFolderIsDurable()
    {
        // Batches of 256: while the first is held before its durable step, the download goes
        // on to the last message (without the overlap it stops within the first batch's window),
        // and the next batch's files are written.
        const int count = 600;
        SaveAndDelete(count, HoldFirstCommitUntilRetr(count, line: "write m300.eml.partial"));
        var log = _log.ToList();
        Assert.True(log.IndexOf("RETR 600") >= 0 && log.IndexOf("RETR 600") < log.IndexOf("first commit goes on"), "the download waited for the first batch's commit");
        Assert.True(log.IndexOf("write m300.eml.partial") >= 0 && log.IndexOf("write m300.eml.partial") < log.IndexOf("first commit goes on"), "the next batch's files waited for the first batch's commit");
        for (var n = 1; n <= count; n++)
        {
            var folder = AssertSavedInOrder(log, n);
            var dele = log.IndexOf($"DELE m{n}");
            Assert.True(dele > folder, $"m{n}: DELE at {dele}, its batch's folder made durable at {folder}");
        }

        Assert.Empty(Directory.GetFiles(_folder, "*.partial"));
    }

    [Fact]
    public void AConnectionDroppedInTheNextBatchWhileOneIsCommittedSavesBothAndDeletesNothing()
    {
        _dropAt = 400;
        var error = Assert.Throws<MailOperationException>(() => SaveAndDelete(600, HoldFirstCommitUntilRetr(_dropAt)));
        Record("error");
        Assert.Equal("ConnectionLost", error.ErrorId);
        var log = _log.ToList();
        for (var n = 1; n < _dropAt; n++)
        {
            Assert.True(AssertSavedInOrder(log, n) < log.IndexOf("error"));
        }

        Assert.DoesNotContain(log, e => e.StartsWith("DELE", StringComparison.Ordinal));
        Assert.Equal(_dropAt - 1, Directory.GetFiles(_folder, "*.eml").Length);
        Assert.Empty(Directory.GetFiles(_folder, "*.partial"));
    }

    [Fact]
    public void CtrlCWhileABatchIsCommittedDeletesNothingAndLeavesNoPartialOrTruncatedFile()
    {
        using var cancel = new CancellationTokenSource();
        var files = HoldFirstCommitUntilRetr(400, () =>
        {
            cancel.Cancel();
            Thread.Sleep(300); // the fetch sees the cancellation while this commit is held
        });
        Assert.ThrowsAny<OperationCanceledException>(() => SaveAndDelete(600, files, cancel.Token));

        // Nothing of the fetch may still be writing: what is on disk now stays so.
        var partial = Directory.GetFiles(_folder, "*.partial");
        Thread.Sleep(500);
        Assert.Empty(partial);
        Assert.Empty(Directory.GetFiles(_folder, "*.partial"));
        Assert.DoesNotContain(_log, e => e.StartsWith("DELE", StringComparison.Ordinal));
        foreach (var saved in Directory.GetFiles(_folder, "*.eml"))
        {
            var n = int.Parse(Path.GetFileNameWithoutExtension(saved).Substring(1));
            Assert.Equal(Message(n), File.ReadAllText(saved));
        }
    }
}
