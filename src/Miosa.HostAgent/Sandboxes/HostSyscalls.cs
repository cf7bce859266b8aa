using System.Runtime.InteropServices;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>The few libc calls .NET has no API for.</summary>
internal static partial class HostSyscalls
{
    public const int SigKill = 9;

    private const int Esrch = 3;

    /// <summary>Sends a signal; true if delivered or the process is already gone.</summary>
    public static bool Signal(int pid, int signal) =>
        KillNative(pid, signal) == 0 || Marshal.GetLastPInvokeError() == Esrch;

    public static void Chown(string path, int uid, int gid)
    {
        if (ChownNative(path, uid, gid) != 0)
        {
            throw new IOException($"chown {path} to {uid}:{gid} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChownNative(string path, int owner, int group);
}
