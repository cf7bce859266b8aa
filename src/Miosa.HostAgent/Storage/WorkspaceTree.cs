using Microsoft.Win32.SafeHandles;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Storage;

/// <summary>Walks and copies workspace trees on the host, never following a symlink out of them.</summary>
public static class WorkspaceTree
{
    /// <summary>Permission bits a restored or copied entry keeps: setuid and setgid never come along.</summary>
    public const UnixFileMode KeptModeBits = (UnixFileMode)0x3FF | UnixFileMode.StickyBit;

    private static readonly EnumerationOptions OneLevel = new()
    {
        RecurseSubdirectories = false,
        IgnoreInaccessible = false,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    /// <summary>
    /// Every entry under <paramref name="root"/> (not the root itself), parents before children, as
    /// (path relative to the root with '/', the entry). Symlinks are entries, never followed.
    /// </summary>
    public static IEnumerable<(string Relative, FileSystemInfo Info)> Walk(string root)
    {
        var pending = new Stack<(string Relative, DirectoryInfo Directory)>();
        pending.Push(("", new DirectoryInfo(root)));
        while (pending.Count > 0)
        {
            var (prefix, directory) = pending.Pop();
            var children = directory.EnumerateFileSystemInfos("*", OneLevel).OrderBy(i => i.Name, StringComparer.Ordinal).ToList();
            var subdirectories = new List<(string, DirectoryInfo)>();
            foreach (var child in children)
            {
                var relative = prefix.Length == 0 ? child.Name : prefix + "/" + child.Name;
                yield return (relative, child);
                if (child is DirectoryInfo sub && !IsSymlink(child))
                {
                    subdirectories.Add((relative, sub));
                }
            }

            for (var i = subdirectories.Count - 1; i >= 0; i--)
            {
                pending.Push(subdirectories[i]);
            }
        }
    }

    /// <summary>Whether the entry is a symlink (from the enumeration's own stat, no extra system call).</summary>
    public static bool IsSymlink(FileSystemInfo info) => (info.Attributes & FileAttributes.ReparsePoint) != 0;

    /// <summary>Gives <paramref name="root"/> and everything under it to <paramref name="uid"/> (symlinks themselves, not their targets).</summary>
    public static void Chown(string root, int uid)
    {
        HostSyscalls.Chown(root, uid, uid);
        // Unsorted and without file objects: one lchown per entry is all a fork's copy costs per file.
        var entries = new System.IO.Enumeration.FileSystemEnumerable<string>(root, (ref System.IO.Enumeration.FileSystemEntry e) => e.ToFullPath(),
            new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false })
        {
            ShouldRecursePredicate = (ref System.IO.Enumeration.FileSystemEntry e) => (e.Attributes & FileAttributes.ReparsePoint) == 0,
        };
        foreach (var path in entries)
        {
            HostSyscalls.Chown(path, uid, uid);
        }
    }

    /// <summary>
    /// Copies a tree to the new directory <paramref name="target"/>: directories, regular files
    /// (sharing blocks where the filesystem can), symlinks, modes and modification times. Owners
    /// are not kept (the copy is root's): the caller gives it to its sandbox. Other kinds of file
    /// (fifos, sockets, devices) are left out.
    /// </summary>
    public static void CopyTree(string source, string target)
    {
        Directory.CreateDirectory(target);
        File.SetUnixFileMode(target, File.GetUnixFileMode(source) & KeptModeBits);
        var directories = new List<(string Path, DateTime Modified)> { (target, Directory.GetLastWriteTimeUtc(source)) };
        foreach (var (relative, info) in Walk(source))
        {
            var destination = Path.Combine(target, relative);
            if (IsSymlink(info))
            {
                File.CreateSymbolicLink(destination, info.LinkTarget ?? "");
            }
            else if (info is DirectoryInfo directory)
            {
                Directory.CreateDirectory(destination);
                File.SetUnixFileMode(destination, directory.UnixFileMode & KeptModeBits);
                directories.Add((destination, directory.LastWriteTimeUtc));
            }
            else if (info is FileInfo file && IsRegular(file.FullName))
            {
                CloneOrCopy(file.FullName, destination);
                File.SetUnixFileMode(destination, file.UnixFileMode & KeptModeBits);
                File.SetLastWriteTimeUtc(destination, file.LastWriteTimeUtc);
            }
        }

        // Last, and deepest first: creating entries changed every directory's time.
        for (var i = directories.Count - 1; i >= 0; i--)
        {
            Directory.SetLastWriteTimeUtc(directories[i].Path, directories[i].Modified);
        }
    }

    /// <summary>A new file at <paramref name="target"/> with <paramref name="source"/>'s bytes: shared blocks (reflink) where possible, else copied. True if shared.</summary>
    public static bool CloneOrCopy(string source, string target)
    {
        using var from = File.OpenHandle(source, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.SequentialScan);
        using var to = File.OpenHandle(target, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        var errno = BtrfsIoctls.Clone(to, from);
        if (errno == 0)
        {
            return true;
        }

        if (errno is not (BtrfsIoctls.NotSupported or BtrfsIoctls.CrossDevice or BtrfsIoctls.InvalidArgument or BtrfsIoctls.NotTty))
        {
            throw new IOException($"Cloning {source} to {target} failed (errno {errno}).", errno);
        }

        Copy(from, to);
        return false;
    }

    private static void Copy(SafeFileHandle from, SafeFileHandle to)
    {
        var buffer = new byte[1 << 20];
        long offset = 0;
        int read;
        while ((read = RandomAccess.Read(from, buffer, offset)) > 0)
        {
            RandomAccess.Write(to, buffer.AsSpan(0, read), offset);
            offset += read;
        }
    }

    /// <summary>A regular file (not a fifo, socket, device or symlink), judged without opening or following it.</summary>
    public static bool IsRegular(string path)
    {
        try
        {
            return FileStatus.Of(path).IsRegularFile;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
