using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Miosa.HostAgent.Storage;

/// <summary>
/// One btrfs filesystem for all of a host's sandboxes, in a sparse image file in the data dir,
/// loop-mounted at <c>&lt;data dir&gt;/volume</c> with quotas on. Each workspace is a subvolume
/// whose quota group caps what it references at its <c>disk_mb</c> (writes past it fail with
/// EDQUOT inside the sandbox; the host's disk grows at most by the image's size). Copies are
/// subvolume snapshots (instant) and the content store's objects share blocks with workspaces
/// (reflinks). Sandboxes cannot make subvolumes of their own (miosa-launch's seccomp filter), so
/// nothing they write escapes their quota group.
/// </summary>
/// <remarks>
/// Set up by <see cref="Open"/> at every start: formatted once, mounted again after a reboot (or
/// reused while mounted), quotas enabled. Needs root, a loop device and btrfs-progs.
/// Layout: <c>sandboxes/&lt;id&gt;/workspace</c> (subvolumes), <c>store/objects/sha256/..</c>,
/// <c>store/snapshots/&lt;id&gt;.json</c>, <c>store/staging/</c>.
/// </remarks>
public sealed partial class BtrfsVolume : IWorkspaceStorage
{
    public const string ImageName = "volume.btrfs";
    public const string MountName = "volume";
    private const long MinimumSize = 1L << 30;
    private static readonly TimeSpan StaleSweepDelay = TimeSpan.FromSeconds(30);
    private int _sweepScheduled;

    private BtrfsVolume(string image, string mountPoint)
    {
        Image = image;
        MountPoint = mountPoint;
        SandboxesDirectory = Path.Combine(mountPoint, "sandboxes");
        StoreDirectory = Path.Combine(mountPoint, "store");
    }

    public string Image { get; }

    public string MountPoint { get; }

    public string SandboxesDirectory { get; }

    public string StoreDirectory { get; }

    public bool LimitsDisk => true;

    public bool CopiesInstantly => true;

    /// <summary>
    /// Formats (first time), mounts (unless mounted) and prepares the volume of <paramref name="dataDirectory"/>.
    /// <paramref name="sizeBytes"/> sizes a new image (sparse: it takes host disk only as sandboxes
    /// write); default half of the free space of the data dir's filesystem.
    /// </summary>
    public static BtrfsVolume Open(string dataDirectory, long? sizeBytes = null, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        var data = Path.GetFullPath(dataDirectory);
        var volume = new BtrfsVolume(Path.Combine(data, ImageName), Path.Combine(data, MountName));
        var stopwatch = Stopwatch.StartNew();
        if (!IsBtrfsMount(volume.MountPoint))
        {
            Directory.CreateDirectory(volume.MountPoint);
            if (!File.Exists(volume.Image))
            {
                var size = Math.Max(MinimumSize, sizeBytes ?? new DriveInfo(data).AvailableFreeSpace / 2);
                var temporary = volume.Image + ".new";
                using (var image = new FileStream(temporary, FileMode.Create, FileAccess.Write))
                {
                    image.SetLength(size);
                }

                Run("mkfs.btrfs", "-q", "-f", temporary);
                File.Move(temporary, volume.Image);
                LogFormatted(logger, volume.Image, size >> 30);
            }

            // discard=async gives blocks freed inside back to the host (holes in the sparse image).
            Run("mount", "-o", "loop,noatime,discard=async", volume.Image, volume.MountPoint);
        }

        Run("btrfs", "quota", "enable", volume.MountPoint);
        volume.ClearStaleQuotaGroups();
        var traversable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        File.SetUnixFileMode(volume.MountPoint, traversable);
        Directory.CreateDirectory(volume.SandboxesDirectory, traversable);
        Directory.CreateDirectory(volume.StoreDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(volume.StoreDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        LogReady(logger, volume.MountPoint, stopwatch.Elapsed.TotalMilliseconds);
        return volume;
    }

    /// <summary>Unmounts the volume of <paramref name="dataDirectory"/> (lazily: in-flight users finish first). For tests and operators.</summary>
    public static void Unmount(string dataDirectory)
    {
        var mountPoint = Path.Combine(Path.GetFullPath(dataDirectory), MountName);
        if (IsBtrfsMount(mountPoint))
        {
            Run("umount", "-l", mountPoint);
        }
    }

    /// <summary>
    /// Moves sandboxes kept as plain directories under <paramref name="oldRoot"/> (a node from before
    /// the volume, or one run with MIOSA_SANDBOX_VOLUME=none) into the volume, each workspace into a
    /// subvolume of its own, so they keep their files and get their disk limit at their next start.
    /// </summary>
    public static void MoveDirectoryWorkspaces(string oldRoot, BtrfsVolume volume)
    {
        ArgumentNullException.ThrowIfNull(volume);
        if (!System.IO.Directory.Exists(oldRoot))
        {
            return;
        }

        foreach (var directory in System.IO.Directory.GetDirectories(oldRoot))
        {
            var id = Path.GetFileName(directory);
            var target = Path.Combine(volume.SandboxesDirectory, id);
            var uidFile = Path.Combine(directory, "uid");
            if (!id.StartsWith("sbx_", StringComparison.Ordinal) || System.IO.Directory.Exists(target) || !File.Exists(uidFile)
                || !int.TryParse(File.ReadAllText(uidFile).Trim(), CultureInfo.InvariantCulture, out var uid))
            {
                continue;
            }

            var building = target + ".moving";
            if (System.IO.Directory.Exists(building))
            {
                volume.Delete(Path.Combine(building, "workspace"));
                System.IO.Directory.Delete(building, recursive: true);
            }

            System.IO.Directory.CreateDirectory(building);
            File.Copy(uidFile, Path.Combine(building, "uid"));
            var workspace = Path.Combine(building, "workspace");
            volume.Create(workspace);
            var old = Path.Combine(directory, "workspace");
            if (System.IO.Directory.Exists(old))
            {
                // Into the subvolume (CopyTree fills an existing directory), so the quota group counts it.
                WorkspaceTree.CopyTree(old, workspace);
            }

            WorkspaceTree.Chown(workspace, uid);
            System.IO.Directory.Move(building, target);
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    public void Create(string path)
    {
        BtrfsIoctls.CreateSubvolume(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public void Limit(string path, long bytes) => BtrfsIoctls.LimitReferenced(path, bytes);

    public void Copy(string source, string target, bool readOnly)
    {
        try
        {
            BtrfsIoctls.Snapshot(source, target, readOnly);
        }
        catch (IOException e) when (e.HResult is BtrfsIoctls.InvalidArgument or BtrfsIoctls.NotTty)
        {
            // Not a subvolume (a workspace from before the volume): a copy sharing its blocks.
            WorkspaceTree.CopyTree(source, target);
        }
    }

    public void Delete(string path)
    {
        if (!Directory.Exists(path))
        {
            return;
        }

        if (!BtrfsIoctls.TryDeleteSubvolume(path))
        {
            Directory.Delete(path, recursive: true);
            return;
        }

        // A deleted subvolume's quota group stays (stale) until its blocks are dropped in the
        // background: swept a while after deletes, at most one sweep waiting at a time.
        if (Interlocked.Exchange(ref _sweepScheduled, 1) == 0)
        {
            _ = Task.Run(async () =>
            {
                await Task.Delay(StaleSweepDelay).ConfigureAwait(false);
                Volatile.Write(ref _sweepScheduled, 0);
                ClearStaleQuotaGroups();
            });
        }
    }

    private void ClearStaleQuotaGroups()
    {
        try
        {
            Run("btrfs", "qgroup", "clear-stale", MountPoint);
        }
        catch (InvalidOperationException)
        {
            // Unmounted meanwhile, or the tool is busy: the next sweep or start does it.
        }
    }

    private static bool IsBtrfsMount(string path)
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mount-point options ... - type source super-options
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-");
            if (fields.Length > 4 && separator > 4 && separator + 1 < fields.Length
                && Unescape(fields[4]) == path && fields[separator + 1] == "btrfs")
            {
                return true;
            }
        }

        return false;
    }

    private static string Unescape(string field) =>
        field.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"{program} is missing ({e.Message}): the sandbox volume needs btrfs-progs and util-linux (scripts/setup installs them), or set MIOSA_SANDBOX_VOLUME=none.", e);
        }

        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                    $"{program} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}: {stderr.Result.Trim()} (the sandbox volume needs root and a loop device; MIOSA_SANDBOX_VOLUME=none runs without disk limits)."));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Formatted the sandbox volume {Image} ({Gigabytes} GiB, sparse)")]
    private static partial void LogFormatted(ILogger logger, string image, long gigabytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox volume mounted at {MountPoint} in {Milliseconds:F0} ms")]
    private static partial void LogReady(ILogger logger, string mountPoint, double milliseconds);
}
