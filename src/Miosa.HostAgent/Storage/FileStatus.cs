using System.Runtime.InteropServices;

namespace Miosa.HostAgent.Storage;

/// <summary>
/// What <c>statx</c> says of a path, without following a final symlink. statx has the same layout
/// on every architecture, unlike <c>stat</c>.
/// </summary>
public readonly record struct FileStatus(uint Mode, int Uid, ulong Inode, long Size, long ChangedNanoseconds, long ModifiedNanoseconds)
{
    private const int TypeMask = 0xF000;
    private const int RegularType = 0x8000;

    public bool IsRegularFile => (Mode & TypeMask) == RegularType;

    public static FileStatus Of(string path) => FileStatusNative.Read(path);
}

internal static unsafe partial class FileStatusNative
{
    private const int CurrentDirectory = -100;
    private const int NoFollow = 0x100;
    private const uint BasicStats = 0x7ff;

    public static FileStatus Read(string path)
    {
        var buffer = stackalloc byte[256];
        if (Statx(CurrentDirectory, path, NoFollow, BasicStats, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno == 2
                ? new FileNotFoundException($"{path} does not exist.", path)
                : new IOException($"statx {path} failed (errno {errno}).", errno);
        }

        static long Time(byte* at) => *(long*)at * 1_000_000_000L + *(uint*)(at + 8);
        return new FileStatus(*(ushort*)(buffer + 28), *(int*)(buffer + 20), *(ulong*)(buffer + 32), *(long*)(buffer + 40), Time(buffer + 96), Time(buffer + 112));
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directory, string path, int flags, uint mask, byte* buffer);
}
