using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// The file operations of saving messages, in the order the fetcher must call them: create and
/// write each temporary file, make a batch of them durable, rename each to its final name, make
/// the folder durable; only then may the server delete anything. A seam, so that a test can
/// record that order.
/// </summary>
internal interface IMessageFiles
{
    bool Exists(string path);

    /// <summary>Opens a new temporary file for writing (replacing a stale one).</summary>
    Stream Create(string temporaryPath);

    /// <summary>Makes the written content of <paramref name="files"/> (all in
    /// <paramref name="folder"/>, still open, their own buffers flushed) durable on disk.</summary>
    void MakeDurable(string folder, IReadOnlyList<(string Path, Stream File)> files);

    void Rename(string temporaryPath, string path);

    /// <summary>Makes the renames in <paramref name="folder"/> durable.</summary>
    void MakeFolderDurable(string folder);

    void Delete(string temporaryPath);
}

/// <summary>The real file operations.</summary>
internal sealed class MessageFiles : IMessageFiles
{
    public static readonly MessageFiles Instance = new();

    private const int ReadOnly = 0;
    private const int ParallelFlushes = 8;

    // syncfs reports write-back errors only since Linux 5.8; before that a failed write could
    // pass unnoticed, so older kernels flush file by file.
    private static readonly bool UseSyncfs = RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && Environment.OSVersion.Version >= new Version(5, 8);
    private static bool _syncfsFailed;

    public bool Exists(string path) => File.Exists(path);

    public Stream Create(string temporaryPath)
    {
        // CreateNew, unbuffered: a file per message costs a truncate less, and no buffer (the
        // message comes in large writes); file creation dominates saving small messages.
        try
        {
            return new FileStream(temporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1);
        }
        catch (IOException) when (File.Exists(temporaryPath))
        {
            // Left by a run that was killed: it was never renamed, so it is no saved message.
            File.Delete(temporaryPath);
            return new FileStream(temporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1);
        }
    }

    public void MakeDurable(string folder, IReadOnlyList<(string Path, Stream File)> files)
    {
        if (files.Count == 0)
        {
            return;
        }

        // One file-system sync writes every file of the batch with one journal commit, where
        // one fsync each costs a commit per file.
        if (UseSyncfs && !_syncfsFailed && SyncFileSystemOf(folder))
        {
            return;
        }

        // Elsewhere (Windows: FlushFileBuffers, macOS, older Linux) file by file, several at
        // once: the disk queues them together.
        var options = new ParallelOptions { MaxDegreeOfParallelism = ParallelFlushes };
        try
        {
            Parallel.ForEach(files, options, f => ((FileStream)f.File).Flush(flushToDisk: true));
        }
        catch (AggregateException ex)
        {
            // The first failure as itself, so that the caller sees the I/O error it handles.
            ExceptionDispatchInfo.Capture(ex.Flatten().InnerExceptions[0]).Throw();
        }
    }

    public void Rename(string temporaryPath, string path) => File.Move(temporaryPath, path);

    public void MakeFolderDurable(string folder)
    {
        // Windows has no way to flush a directory, nor a need: NTFS journals the rename itself
        // (MoveFileEx) before it returns. On Linux and macOS the rename lives in the directory,
        // which needs its own fsync.
        if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
        {
            return;
        }

        var fd = open(folder, ReadOnly);
        if (fd < 0)
        {
            throw new IOException($"Cannot open the folder '{folder}' to flush it to disk (errno {Marshal.GetLastWin32Error()}).");
        }

        try
        {
            if (fsync(fd) != 0)
            {
                throw new IOException($"Cannot flush the folder '{folder}' to disk (errno {Marshal.GetLastWin32Error()}).");
            }
        }
        finally
        {
            close(fd);
        }
    }

    public void Delete(string temporaryPath) => File.Delete(temporaryPath);

    /// <summary>syncfs on the folder's file system; false when the call is not available (e.g.
    /// blocked in a container) or fails, for the caller to flush file by file instead.</summary>
    private static bool SyncFileSystemOf(string folder)
    {
        var fd = open(folder, ReadOnly);
        if (fd < 0)
        {
            return false;
        }

        try
        {
            if (syncfs(fd) == 0)
            {
                return true;
            }
        }
        catch (EntryPointNotFoundException)
        {
        }
        finally
        {
            close(fd);
        }

        _syncfsFailed = true;
        return false;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int syncfs(int fd);

    [DllImport("libc")]
    private static extern int close(int fd);
}
