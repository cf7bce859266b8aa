using System.Runtime.InteropServices;
using System.Text;

namespace Miosa.HostAgent.Storage;

/// <summary>
/// The btrfs and reflink ioctls the sandbox volume uses (linux/btrfs.h, linux/fs.h), called directly:
/// the <c>btrfs</c> tool would cost a process start (5 to 30 ms) on every sandbox create.
/// </summary>
internal static unsafe partial class BtrfsIoctls
{
    private const uint SubvolCreate = 0x5000940e;
    private const uint SnapDestroy = 0x5000940f;
    private const uint SnapCreateV2 = 0x50009417;
    private const uint QgroupLimit = 0x8030942b;
    private const uint Ficlone = 0x40049409;
    private const ulong SubvolReadOnly = 1 << 1;
    private const ulong LimitMaxReferenced = 1;
    private const int VolumeNameLength = 4088;
    private const int VolumeNameLengthV2 = 4040;

    private const int ReadOnly = 0;
    private const int Directory = 0x10000;
    private const int CloseOnExec = 0x80000;
    private const int NoFollow = 0x20000;

    public const int NotSupported = 95;
    public const int CrossDevice = 18;
    public const int InvalidArgument = 22;
    public const int NotTty = 25;

    /// <summary>Creates the subvolume <paramref name="path"/> (its parent must exist).</summary>
    public static void CreateSubvolume(string path)
    {
        var (parent, name) = Split(path);
        using var directory = OpenDirectory(parent);
        var args = new VolumeArgs();
        WriteName(name, args.Name, VolumeNameLength);
        Check(Ioctl(directory.Fd, SubvolCreate, &args), "create subvolume", path);
    }

    /// <summary>A snapshot of the subvolume <paramref name="source"/> at <paramref name="target"/> (instant, copy-on-write).</summary>
    public static void Snapshot(string source, string target, bool readOnly)
    {
        var (parent, name) = Split(target);
        using var from = OpenDirectory(source);
        using var directory = OpenDirectory(parent);
        var args = new VolumeArgsV2 { Fd = from.Fd, Flags = readOnly ? SubvolReadOnly : 0 };
        WriteName(name, args.Name, VolumeNameLengthV2);
        Check(Ioctl(directory.Fd, SnapCreateV2, &args), "snapshot subvolume", source);
    }

    /// <summary>Deletes a subvolume at once (its blocks are freed in the background). False when it is not one.</summary>
    public static bool TryDeleteSubvolume(string path)
    {
        var (parent, name) = Split(path);
        using var directory = OpenDirectory(parent);
        var args = new VolumeArgs();
        WriteName(name, args.Name, VolumeNameLength);
        if (Ioctl(directory.Fd, SnapDestroy, &args) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno is InvalidArgument or NotTty or 20 /* ENOTDIR */ or 2 /* ENOENT */
            ? false
            : throw new IOException($"Deleting subvolume {path} failed (errno {errno}).", errno);
    }

    /// <summary>Caps what the subvolume <paramref name="path"/> references (its quota group 0/id); 0 lifts the cap.</summary>
    public static void LimitReferenced(string path, long bytes)
    {
        using var directory = OpenDirectory(path);
        var args = new QgroupLimitArgs { Flags = LimitMaxReferenced, MaxReferenced = bytes > 0 ? (ulong)bytes : ulong.MaxValue };
        Check(Ioctl(directory.Fd, QgroupLimit, &args), "limit subvolume", path);
    }

    /// <summary>Makes <paramref name="target"/> (open for writing, empty) share <paramref name="source"/>'s blocks. Returns errno, 0 on success.</summary>
    public static int Clone(SafeHandle target, SafeHandle source)
    {
        var result = Ioctl(target.DangerousGetHandle().ToInt32(), Ficlone, (void*)source.DangerousGetHandle());
        return result == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private static (string Parent, string Name) Split(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd('/');
        return (Path.GetDirectoryName(full) ?? "/", Path.GetFileName(full));
    }

    private static void WriteName(string name, byte* destination, int capacity)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        if (bytes.Length == 0 || bytes.Length >= capacity || name.Contains('/'))
        {
            throw new ArgumentException($"Invalid subvolume name '{name}'.", nameof(name));
        }

        bytes.CopyTo(new Span<byte>(destination, capacity));
    }

    private static void Check(int result, string what, string path)
    {
        if (result != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Could not {what} {path} (errno {errno}).", errno);
        }
    }

    private static OpenFd OpenDirectory(string path)
    {
        var fd = Open(path, ReadOnly | Directory | CloseOnExec | NoFollow, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Could not open {path} (errno {errno}).", errno);
        }

        return new OpenFd(fd);
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    private readonly struct OpenFd(int fd) : IDisposable
    {
        public int Fd { get; } = fd;

        public void Dispose() => Close(Fd);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct VolumeArgs
    {
        public long Fd;
        public fixed byte Name[VolumeNameLength];
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct VolumeArgsV2
    {
        public long Fd;
        public ulong TransactionId;
        public ulong Flags;
        public fixed ulong Unused[4];
        public fixed byte Name[VolumeNameLengthV2];
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct QgroupLimitArgs
    {
        public ulong QgroupId;
        public ulong Flags;
        public ulong MaxReferenced;
        public ulong MaxExclusive;
        public ulong ReservedReferenced;
        public ulong ReservedExclusive;
    }
}
