using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.IO;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// The file operations of saving messages, in the order the fetcher must call them: open the
/// folder, create and write each temporary file, make a batch of them durable, rename each to its
/// final name, make the folder durable; only then may the server delete anything. A seam, so that
/// a test can record that order.
/// </summary>
internal interface IMessageFiles
{
    bool Exists(string path);

    /// <summary>Opens the folder for one batch, before any of its files is created: a write
    /// error is reported through it only when it happened after this open.</summary>
    SaveFolder OpenFolder(string folder);

    /// <summary>Opens a new temporary file for writing (replacing a stale one).</summary>
    Stream Create(string temporaryPath);

    /// <summary>Creates a new temporary file in <paramref name="folder"/> (replacing a stale one)
    /// holding the first <paramref name="length"/> bytes of <paramref name="bytes"/>. Gives it
    /// still open where <see cref="MakeDurable"/> flushes file by file, null where it was closed
    /// (the folder's file system is synced whole).</summary>
    Stream? Write(SaveFolder folder, string temporaryPath, byte[] bytes, int length);

    /// <summary>Makes the written content of <paramref name="files"/> (all in
    /// <paramref name="folder"/>, their own buffers flushed; open, or null when
    /// <see cref="Write"/> closed them) durable on disk.</summary>
    void MakeDurable(SaveFolder folder, IReadOnlyList<(string Path, Stream? File)> files);

    void Rename(string temporaryPath, string path);

    /// <summary>Makes the renames in <paramref name="folder"/> durable.</summary>
    void MakeFolderDurable(SaveFolder folder);

    void Delete(string temporaryPath);
}

/// <summary>A folder opened for a batch of saves; its descriptor is -1 where there is none.</summary>
internal sealed class SaveFolder : IDisposable
{
    private readonly Action<int>? _close;

    public SaveFolder(string path, int descriptor, Action<int>? close, bool syncsFileSystem = false)
    {
        Path = path;
        Descriptor = descriptor;
        _close = close;
        SyncsFileSystem = syncsFileSystem;
    }

    public string Path { get; }
    public int Descriptor { get; private set; }

    /// <summary>True where a batch in this folder is made durable by one syncfs through
    /// <see cref="Descriptor"/>: its files need not stay open for it.</summary>
    public bool SyncsFileSystem { get; }

    public void Dispose()
    {
        if (Descriptor >= 0)
        {
            _close?.Invoke(Descriptor);
            Descriptor = -1;
        }
    }
}

/// <summary>The system calls that make saved files durable, each returning 0 or an errno; a seam,
/// so that a test can record them.</summary>
internal interface IDurabilityCalls
{
    int OpenFolder(string path, out int descriptor);

    /// <summary>The f_type of the file system holding <paramref name="descriptor"/>.</summary>
    int FileSystemType(int descriptor, out long type);

    int SyncFileSystem(int descriptor);

    /// <summary>Bytes of the whole system's page cache waiting to be written (Dirty and Writeback
    /// of /proc/meminfo); -1 when unknown.</summary>
    long PendingWriteBytes();

    int Fsync(int descriptor);

    void Close(int descriptor);

    /// <summary>Creates <paramref name="path"/>, which must not exist, writes the first
    /// <paramref name="length"/> bytes of <paramref name="bytes"/> and closes it: 0 or an errno.</summary>
    int CreateFile(string path, byte[] bytes, int length);

    /// <summary>rename(2) that fails with EEXIST rather than replace <paramref name="path"/>
    /// (renameat2 RENAME_NOREPLACE): 0 or an errno; EINVAL or ENOSYS where it is not supported.</summary>
    int RenameNoReplace(string temporaryPath, string path);

    /// <summary>Flushes one file to disk; throws an IOException on failure.</summary>
    void FlushFile(FileStream file);
}

/// <summary>The real file operations.</summary>
internal sealed class MessageFiles : IMessageFiles
{
    private const int ParallelFlushes = 8;

    // Above this much data waiting to be written elsewhere (a large copy running), syncfs would
    // wait for all of it; the batch's own files are flushed one by one instead. A batch itself
    // holds at most 32 MB.
    internal const long MaxPendingForSyncfs = 256L * 1024 * 1024;
    private const int MoveFileWriteThrough = 0x8;
    private const int MoveFileReplaceExisting = 0x1;
    private static readonly bool IsWindows = RuntimeInformation.IsOSPlatform(OSPlatform.Windows);
    private const int EPERM = 1;
    private const int EBADF = 9;
    private const int EACCES = 13;
    private const int EEXIST = 17;
    private const int EINVAL = 22;
    private const int ENOSYS = 38;
    private static readonly bool IsMac = RuntimeInformation.IsOSPlatform(OSPlatform.OSX);
    private static readonly bool IsLinux = RuntimeInformation.IsOSPlatform(OSPlatform.Linux);
    private static readonly int ENOTSUP = IsMac ? 45 : 95;
    private static readonly int EOPNOTSUPP = IsMac ? 102 : 95;

    // File systems whose syncfs writes every dirty file to the disk. On others (FUSE, 9p, network
    // file systems) it may return 0 with nothing written, so each file gets its own fsync.
    private static readonly HashSet<long> LocalDiskFileSystems = new()
    {
        0xEF53, // ext2, ext3, ext4
        0x58465342, // xfs
        0x9123683E, // btrfs
        0xF2F52010, // f2fs
        0x3153464A, // jfs
        0x52654973, // reiserfs
        0xCA451A4E, // bcachefs
    };

    public static readonly MessageFiles Instance = IsWindows
        ? new(null, useSyncfs: false)
        // syncfs reports write-back errors only since Linux 5.8; before that a failed write could
        // pass unnoticed, so older kernels flush file by file.
        : new(new LibcCalls(), IsLinux && Environment.OSVersion.Version >= new Version(5, 8), renameNoReplace: IsLinux);

    private readonly IDurabilityCalls? _calls;
    private readonly bool _useSyncfs;
    private volatile bool _syncfsUnavailable;
    private volatile bool _renameNoReplace;

    /// <param name="calls">The system calls; null on Windows, which has no folder to open.</param>
    /// <param name="useSyncfs">Whether syncfs may make a batch durable (Linux 5.8 and later).</param>
    /// <param name="renameNoReplace">Whether to rename with renameat2 (Linux).</param>
    public MessageFiles(IDurabilityCalls? calls, bool useSyncfs, bool renameNoReplace = false)
    {
        _calls = calls;
        _useSyncfs = useSyncfs;
        _renameNoReplace = renameNoReplace && calls != null;
    }

    public bool Exists(string path) => File.Exists(path);

    public SaveFolder OpenFolder(string folder)
    {
        if (_calls == null)
        {
            return new SaveFolder(folder, -1, null);
        }

        var errno = _calls.OpenFolder(folder, out var descriptor);
        if (errno == EACCES)
        {
            // A folder one may write but not read: its files are flushed one by one, and its
            // renames cannot be flushed at all.
            return new SaveFolder(folder, -1, null);
        }

        if (errno != 0)
        {
            throw new IOException($"Cannot open the folder '{folder}' to flush it to disk (errno {errno}).");
        }

        return new SaveFolder(folder, descriptor, _calls.Close, CanSyncFileSystem(descriptor));
    }

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

    public Stream? Write(SaveFolder folder, string temporaryPath, byte[] bytes, int length)
    {
        if (!folder.SyncsFileSystem || _calls == null)
        {
            var file = Create(temporaryPath);
            file.Write(bytes, 0, length);
            file.Flush();
            return file;
        }

        // Three system calls (a FileStream makes seven, with its lock and the close's unlock):
        // creating files is most of the cost of saving small messages. The syncfs of the batch
        // needs no open file.
        var errno = _calls.CreateFile(temporaryPath, bytes, length);
        if (errno == EEXIST)
        {
            // Left by a run that was killed: it was never renamed, so it is no saved message.
            File.Delete(temporaryPath);
            errno = _calls.CreateFile(temporaryPath, bytes, length);
        }

        if (errno != 0)
        {
            throw new IOException($"Cannot write '{temporaryPath}' (errno {errno}).");
        }

        return null;
    }

    public void MakeDurable(SaveFolder folder, IReadOnlyList<(string Path, Stream? File)> files)
    {
        if (files.Count == 0)
        {
            return;
        }

        // One file-system sync writes every file of the batch with one journal commit, where
        // one fsync each costs a commit per file.
        if (SyncFileSystem(folder))
        {
            return;
        }

        // Elsewhere (Windows: FlushFileBuffers, macOS, older Linux, FUSE) file by file, several
        // at once: the disk queues them together. A file Write closed (syncfs failed after all)
        // is opened again: fsync through a new descriptor still reports a write-back error no
        // one has seen (Linux 4.16 and later; syncfs is used only from 5.8).
        var flush = _calls == null ? f => f.Flush(flushToDisk: true) : (Action<FileStream>)_calls.FlushFile;
        try
        {
            Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = ParallelFlushes }, f =>
            {
                if (f.File != null)
                {
                    flush((FileStream)f.File);
                    return;
                }

                using var reopened = new FileStream(f.Path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
                flush(reopened);
            });
        }
        catch (AggregateException ex)
        {
            // The first failure as itself, so that the caller sees the I/O error it handles.
            ExceptionDispatchInfo.Capture(ex.Flatten().InnerExceptions[0]).Throw();
        }
    }

    public void Rename(string temporaryPath, string path)
    {
        if (_renameNoReplace)
        {
            // One system call: File.Move looks at both names first (three lstat), and its check
            // that the target is free races with the rename itself.
            var errno = _calls!.RenameNoReplace(temporaryPath, path);
            if (errno == 0)
            {
                return;
            }

            if (errno != EINVAL && errno != ENOSYS)
            {
                throw new IOException(errno == EEXIST ? $"The file '{path}' already exists." : $"Cannot rename '{temporaryPath}' to '{path}' (errno {errno}).");
            }

            // A file system without RENAME_NOREPLACE, or a libc without renameat2.
            _renameNoReplace = false;
        }

        if (!IsWindows)
        {
            File.Move(temporaryPath, path);
            return;
        }

        // NTFS writes a rename to its log lazily, and a folder cannot be flushed there: write
        // through makes the rename durable before the call returns.
        if (!MoveFileEx(ExtendedLengthPath(Path.GetFullPath(temporaryPath)), ExtendedLengthPath(Path.GetFullPath(path)), MoveFileWriteThrough))
        {
            throw new IOException($"Cannot rename '{temporaryPath}' to '{path}'.", new Win32Exception(Marshal.GetLastWin32Error()));
        }
    }

    /// <summary>Renames like <see cref="Rename"/>, replacing a file already at
    /// <paramref name="path"/> in one step (rename(2), MOVEFILE_REPLACE_EXISTING): no moment
    /// without a whole file under that name.</summary>
    public void Replace(string temporaryPath, string path)
    {
        if (!IsWindows)
        {
#if NETCOREAPP
            File.Move(temporaryPath, path, overwrite: true);
#else
            File.Delete(path);
            File.Move(temporaryPath, path);
#endif
            return;
        }

        if (!MoveFileEx(ExtendedLengthPath(Path.GetFullPath(temporaryPath)), ExtendedLengthPath(Path.GetFullPath(path)), MoveFileReplaceExisting | MoveFileWriteThrough))
        {
            throw new IOException($"Cannot rename '{temporaryPath}' to '{path}'.", new Win32Exception(Marshal.GetLastWin32Error()));
        }
    }

    /// <summary>A full Windows path in the \\?\ form, which Win32 calls take beyond 260
    /// characters (the .NET file APIs add it themselves; a direct call must).</summary>
    internal static string ExtendedLengthPath(string full)
    {
        if (full.StartsWith(@"\\?\", StringComparison.Ordinal) || full.StartsWith(@"\\.\", StringComparison.Ordinal))
        {
            return full;
        }

        return full.StartsWith(@"\\", StringComparison.Ordinal) ? @"\\?\UNC\" + full.Substring(2) : @"\\?\" + full;
    }

    public void MakeFolderDurable(SaveFolder folder)
    {
        // Windows has no folder to flush (see Rename); elsewhere the rename lives in the
        // directory, which needs its own fsync.
        if (_calls == null || folder.Descriptor < 0)
        {
            return;
        }

        var errno = _calls.Fsync(folder.Descriptor);

        // Some file systems (vboxsf, older CIFS) cannot fsync a directory at all; the files
        // themselves were flushed.
        if (errno != 0 && errno != EINVAL && errno != EBADF && errno != ENOTSUP && errno != EOPNOTSUPP)
        {
            throw new IOException($"Cannot flush the folder '{folder.Path}' to disk (errno {errno}).");
        }
    }

    public void Delete(string temporaryPath) => File.Delete(temporaryPath);

    /// <summary>Whether syncfs through the folder <paramref name="descriptor"/> writes every file
    /// in it: false on an unknown file system, where the files are flushed one by one.</summary>
    private bool CanSyncFileSystem(int descriptor) =>
        _calls != null && _useSyncfs && !_syncfsUnavailable && descriptor >= 0 &&
        _calls.FileSystemType(descriptor, out var type) == 0 && LocalDiskFileSystems.Contains(type & 0xFFFFFFFF);

    /// <summary>syncfs through the folder opened before the files were written; false where it
    /// may not write them all (an unknown file system), or fails, for the caller to flush file
    /// by file instead.</summary>
    private bool SyncFileSystem(SaveFolder folder)
    {
        if (!folder.SyncsFileSystem || _syncfsUnavailable || _calls!.PendingWriteBytes() > MaxPendingForSyncfs)
        {
            return false;
        }

        var errno = _calls!.SyncFileSystem(folder.Descriptor);
        if (errno == ENOSYS || errno == EPERM)
        {
            // Not available here (e.g. blocked in a container).
            _syncfsUnavailable = true;
        }

        return errno == 0;
    }

    [DllImport("kernel32", EntryPoint = "MoveFileExW", CharSet = CharSet.Unicode, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool MoveFileEx(string existingFileName, string newFileName, int flags);

    internal sealed class LibcCalls : IDurabilityCalls
    {
        private static readonly int OpenFlags = IsMac ? 0x1000000 : 0x80000; // O_RDONLY | O_CLOEXEC

        public int OpenFolder(string path, out int descriptor)
        {
            descriptor = open(path, OpenFlags);
            return descriptor < 0 ? Marshal.GetLastWin32Error() : 0;
        }

        public int FileSystemType(int descriptor, out long type)
        {
            // struct statfs starts with its 64-bit f_type on x64 and arm64 Linux; the buffer
            // holds the whole struct (120 bytes there).
            var buffer = new byte[256];
            type = 0;
            if (IsMac)
            {
                return ENOSYS;
            }

            try
            {
                if (fstatfs(descriptor, buffer) != 0)
                {
                    return Marshal.GetLastWin32Error();
                }
            }
            catch (EntryPointNotFoundException)
            {
                return ENOSYS;
            }

            type = BitConverter.ToInt64(buffer, 0);
            return 0;
        }

        public int SyncFileSystem(int descriptor)
        {
            try
            {
                return syncfs(descriptor) == 0 ? 0 : Marshal.GetLastWin32Error();
            }
            catch (EntryPointNotFoundException)
            {
                return ENOSYS;
            }
        }

        public int Fsync(int descriptor) => fsync(descriptor) == 0 ? 0 : Marshal.GetLastWin32Error();

        public long PendingWriteBytes()
        {
            try
            {
                long kilobytes = 0;
                foreach (var line in File.ReadLines("/proc/meminfo"))
                {
                    if (line.StartsWith("Dirty:", StringComparison.Ordinal) || line.StartsWith("Writeback:", StringComparison.Ordinal))
                    {
                        kilobytes += long.Parse(line.Substring(line.IndexOf(':') + 1).Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                    }
                }

                return kilobytes * 1024;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException || ex is FormatException)
            {
                return -1;
            }
        }

        public void Close(int descriptor) => close(descriptor);

        public void FlushFile(FileStream file) => file.Flush(flushToDisk: true);

        public int CreateFile(string path, byte[] bytes, int length)
        {
            var descriptor = open(path, CreateFlags, 0x1B6); // 0666, less the umask, as a FileStream
            if (descriptor < 0)
            {
                return Marshal.GetLastWin32Error();
            }

            var errno = 0;
            for (var offset = 0; offset < length && errno == 0;)
            {
                var written = (long)write(descriptor, ref bytes[offset], (IntPtr)(length - offset));
                if (written >= 0)
                {
                    offset += (int)written;
                }
                else if ((errno = Marshal.GetLastWin32Error()) == EINTR)
                {
                    errno = 0;
                }
            }

            // close can report a write-back error (NFS); syncfs is used only on local disks.
            if (close(descriptor) != 0 && errno == 0)
            {
                errno = Marshal.GetLastWin32Error();
            }

            return errno;
        }

        public int RenameNoReplace(string temporaryPath, string path)
        {
            try
            {
                return renameat2(AtCurrentFolder, temporaryPath, AtCurrentFolder, path, RenameNoReplaceFlag) == 0 ? 0 : Marshal.GetLastWin32Error();
            }
            catch (EntryPointNotFoundException)
            {
                return ENOSYS;
            }
        }

        private const int EINTR = 4;
        private const int AtCurrentFolder = -100; // AT_FDCWD
        private const uint RenameNoReplaceFlag = 1; // RENAME_NOREPLACE
        private const int CreateFlags = 0x1 | 0x40 | 0x80 | 0x80000; // O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC (Linux)

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

        [DllImport("libc", SetLastError = true)]
        private static extern IntPtr write(int fd, ref byte buffer, IntPtr count);

        [DllImport("libc", SetLastError = true)]
        private static extern int renameat2(int oldFolder, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, int newFolder, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath, uint flags);

        [DllImport("libc", SetLastError = true)]
        private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        private static extern int fstatfs(int fd, [Out] byte[] buf);

        [DllImport("libc", SetLastError = true)]
        private static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        private static extern int syncfs(int fd);

        [DllImport("libc")]
        private static extern int close(int fd);
    }
}
