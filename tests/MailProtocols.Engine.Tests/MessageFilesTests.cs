using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MailProtocols.Engine.Pop3;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>
/// The real file operations of saving, with the system calls that make files durable recorded:
/// syncfs through the folder opened before the files only on a known local disk file system,
/// else each file flushed, and the folder flushed after the renames.
/// </summary>
public sealed class MessageFilesTests : IDisposable
{
    private const long Ext4 = 0xEF53;
    private const long Fuse = 0x65735546;
    private const int Folder = 42;

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "pop3-message-files-" + Guid.NewGuid().ToString("N"));
    private readonly Calls _calls = new();

    public MessageFilesTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private sealed class Calls : IDurabilityCalls
    {
        public List<string> Log { get; } = new();
        public long Type { get; set; } = Ext4;
        public int OpenError { get; set; }
        public int FsyncError { get; set; }
        public int SyncfsError { get; set; }
        public int RenameError { get; set; }
        public long Pending { get; set; }
        public Func<string, Exception?> FlushFailure { get; set; } = _ => null;

        private void Record(string line)
        {
            lock (Log)
            {
                Log.Add(line);
            }
        }

        public int OpenFolder(string path, out int descriptor)
        {
            Record("open");
            descriptor = OpenError == 0 ? Folder : -1;
            return OpenError;
        }

        public int FileSystemType(int descriptor, out long type)
        {
            type = Type;
            return 0;
        }

        public int SyncFileSystem(int descriptor)
        {
            Record($"syncfs {descriptor}");
            return SyncfsError;
        }

        public long PendingWriteBytes() => Pending;

        public int Fsync(int descriptor)
        {
            Record($"fsync {descriptor}");
            return FsyncError;
        }

        public void Close(int descriptor) => Record($"close {descriptor}");

        public int CreateFile(string path, byte[] bytes, int length)
        {
            Record("create file " + Path.GetFileName(path));
            using var file = new FileStream(path, FileMode.CreateNew);
            file.Write(bytes, 0, length);
            return 0;
        }

        public int RenameNoReplace(string temporaryPath, string path)
        {
            Record("renameat2 " + Path.GetFileName(temporaryPath));
            if (RenameError == 0)
            {
                File.Move(temporaryPath, path);
            }

            return RenameError;
        }

        public void FlushFile(FileStream file)
        {
            Record("flush " + Path.GetFileName(file.Name));
            if (FlushFailure(Path.GetFileName(file.Name)) is { } failure)
            {
                throw failure;
            }
        }
    }

    /// <summary>Saves two messages through the real file operations, recording each step: a.eml
    /// streamed into its file (a large message), b.eml written whole (a small one).</summary>
    private void SaveTwo(MessageFiles files)
    {
        using var folder = files.OpenFolder(_folder);
        var written = new List<(string Path, Stream? File)>();
        foreach (var name in new[] { "a.eml", "b.eml" })
        {
            var path = Path.Combine(_folder, name + ".partial");
            _calls.Log.Add("create " + name);
            if (name == "a.eml")
            {
                var file = files.Create(path);
                file.Write(new byte[] { 1, 2, 3 }, 0, 3);
                written.Add((path, file));
            }
            else
            {
                written.Add((path, files.Write(folder, path, new byte[] { 4, 5, 6, 7 }, 3)));
            }
        }

        _calls.Log.Add("durable");
        files.MakeDurable(folder, written);
        foreach (var (path, file) in written)
        {
            file?.Dispose();
            files.Rename(path, path.Substring(0, path.Length - ".partial".Length));
        }

        _calls.Log.Add("renamed");
        files.MakeFolderDurable(folder);
    }

    [Fact]
    public void OnALocalDiskFileSystemTheFolderOpenedBeforeTheFilesIsSyncedThenFlushedAfterTheRenames()
    {
        SaveTwo(new MessageFiles(_calls, useSyncfs: true));
        Assert.Equal(new[] { "open", "create a.eml", "create b.eml", "create file b.eml.partial", "durable", $"syncfs {Folder}", "renamed", $"fsync {Folder}", $"close {Folder}" }, _calls.Log);
        Assert.Equal(new byte[] { 4, 5, 6 }, File.ReadAllBytes(Path.Combine(_folder, "b.eml")));
    }

    [Fact]
    public void WhenSyncfsFailsTheFilesWrittenClosedAreOpenedAgainAndFlushed()
    {
        _calls.SyncfsError = 1; // EPERM: blocked in a container
        SaveTwo(new MessageFiles(_calls, useSyncfs: true));
        Assert.Equal(new[] { "open", "create a.eml", "create b.eml", "create file b.eml.partial", "durable", $"syncfs {Folder}" }, _calls.Log.Take(6));
        Assert.Equal(new[] { "flush a.eml.partial", "flush b.eml.partial" }, _calls.Log.Skip(6).Take(2).OrderBy(e => e));
        Assert.Equal(new[] { "renamed", $"fsync {Folder}", $"close {Folder}" }, _calls.Log.Skip(8));
    }

    [Fact]
    public void BehindALargeCopyWaitingToBeWrittenTheFilesAreFlushedOneByOneNotTheWholeFileSystem()
    {
        _calls.Pending = MessageFiles.MaxPendingForSyncfs + 1;
        SaveTwo(new MessageFiles(_calls, useSyncfs: true));
        Assert.Equal(new[] { "flush a.eml.partial", "flush b.eml.partial" }, _calls.Log.Skip(5).Take(2).OrderBy(e => e));
        Assert.DoesNotContain(_calls.Log, e => e.StartsWith("syncfs", StringComparison.Ordinal));
        Assert.Equal(new[] { "renamed", $"fsync {Folder}", $"close {Folder}" }, _calls.Log.Skip(7));
    }

    [Fact]
    public void OnLinuxTheSystemsPendingWritesAreKnown()
    {
        var pending = new MessageFiles.LibcCalls().PendingWriteBytes();
        Assert.True(OperatingSystem.IsLinux() ? pending >= 0 : pending == -1, $"{pending} bytes pending");
    }

    [Fact]
    public void RenamesAreOneRenameat2ThatNeverReplacesAFile()
    {
        SaveTwo(new MessageFiles(_calls, useSyncfs: true, renameNoReplace: true));
        Assert.Equal(new[] { "durable", $"syncfs {Folder}", "renameat2 a.eml.partial", "renameat2 b.eml.partial", "renamed" }, _calls.Log.Skip(4).Take(5));

        _calls.RenameError = 17; // EEXIST
        var files = new MessageFiles(_calls, useSyncfs: true, renameNoReplace: true);
        File.WriteAllText(Path.Combine(_folder, "c.eml.partial"), "new");
        var error = Assert.Throws<IOException>(() => files.Rename(Path.Combine(_folder, "c.eml.partial"), Path.Combine(_folder, "a.eml")));
        Assert.Contains("already exists", error.Message);
    }

    [Theory]
    [InlineData(22)] // EINVAL: a file system without RENAME_NOREPLACE
    [InlineData(38)] // ENOSYS
    public void WithoutRenameat2TheFileIsMovedAllTheSame(int errno)
    {
        _calls.RenameError = errno;
        SaveTwo(new MessageFiles(_calls, useSyncfs: true, renameNoReplace: true));
        Assert.Equal(new[] { "a.eml", "b.eml" }, Directory.GetFiles(_folder).Select(Path.GetFileName).OrderBy(f => f));
        Assert.Single(_calls.Log, e => e.StartsWith("renameat2", StringComparison.Ordinal));
    }

    [Fact]
    public void TheRealRenameNeverReplacesASavedMessage()
    {
        var saved = Path.Combine(_folder, "m.eml");
        var partial = saved + ".partial";
        File.WriteAllText(saved, "saved");
        File.WriteAllText(partial, "other");
        Assert.Throws<IOException>(() => MessageFiles.Instance.Rename(partial, saved));
        Assert.Equal("saved", File.ReadAllText(saved));
        File.Delete(saved);
        MessageFiles.Instance.Rename(partial, saved);
        Assert.Equal("other", File.ReadAllText(saved));
        Assert.False(File.Exists(partial));
    }

    [Fact]
    public void OnFuseEachFileIsFlushed()
    {
        _calls.Type = Fuse;
        SaveTwo(new MessageFiles(_calls, useSyncfs: true));
        Assert.Equal(new[] { "open", "create a.eml", "create b.eml", "durable" }, _calls.Log.Take(4));
        Assert.DoesNotContain(_calls.Log, e => e.StartsWith("create file", StringComparison.Ordinal));
        Assert.Equal(new[] { "flush a.eml.partial", "flush b.eml.partial" }, _calls.Log.Skip(4).Take(2).OrderBy(e => e));
        Assert.Equal(new[] { "renamed", $"fsync {Folder}", $"close {Folder}" }, _calls.Log.Skip(6));
        Assert.DoesNotContain(_calls.Log, e => e.StartsWith("syncfs", StringComparison.Ordinal));
    }

    [Fact]
    public void WithoutSyncfsReportingErrorsEachFileIsFlushed()
    {
        SaveTwo(new MessageFiles(_calls, useSyncfs: false));
        Assert.Equal(2, _calls.Log.Count(e => e.StartsWith("flush", StringComparison.Ordinal)));
        Assert.DoesNotContain(_calls.Log, e => e.StartsWith("syncfs", StringComparison.Ordinal));
    }

    [Fact]
    public void AFlushThatFailsIsItsOwnIOException()
    {
        _calls.Type = Fuse;
        _calls.FlushFailure = name => name == "b.eml.partial" ? new IOException("no space") : null;
        var error = Assert.Throws<IOException>(() => SaveTwo(new MessageFiles(_calls, useSyncfs: true)));
        Assert.Equal("no space", error.Message);
    }

    [Theory]
    [InlineData(22)] // EINVAL
    [InlineData(95)] // ENOTSUP
    [InlineData(9)] // EBADF
    public void AFolderThatCannotBeFlushedAtAllIsNoError(int errno)
    {
        _calls.FsyncError = errno;
        SaveTwo(new MessageFiles(_calls, useSyncfs: true));
        Assert.Contains($"fsync {Folder}", _calls.Log);
    }

    [Fact]
    public void AFolderFlushThatFailsOtherwiseIsAnError()
    {
        _calls.FsyncError = 5; // EIO
        var error = Assert.Throws<IOException>(() => SaveTwo(new MessageFiles(_calls, useSyncfs: true)));
        Assert.Contains(_folder, error.Message);
    }

    [Fact]
    public void AFolderWithoutReadPermissionHasItsFilesFlushedOneByOne()
    {
        _calls.OpenError = 13; // EACCES
        SaveTwo(new MessageFiles(_calls, useSyncfs: true));
        Assert.Equal(2, _calls.Log.Count(e => e.StartsWith("flush", StringComparison.Ordinal)));
        Assert.DoesNotContain(_calls.Log, e => e.StartsWith("syncfs", StringComparison.Ordinal) || e.StartsWith("fsync", StringComparison.Ordinal));
    }

    [Fact]
    public void AFolderThatCannotBeOpenedOtherwiseIsAnError()
    {
        _calls.OpenError = 2; // ENOENT
        Assert.Throws<IOException>(() => new MessageFiles(_calls, useSyncfs: true).OpenFolder(_folder));
    }

    [Theory]
    [InlineData(@"C:\mail\1.eml", @"\\?\C:\mail\1.eml")]
    [InlineData(@"\\server\share\1.eml", @"\\?\UNC\server\share\1.eml")]
    [InlineData(@"\\?\C:\mail\1.eml", @"\\?\C:\mail\1.eml")]
    public void AWindowsRenameGetsPathsInTheExtendedLengthForm(string full, string expected) =>
        Assert.Equal(expected, MessageFiles.ExtendedLengthPath(full));
}
