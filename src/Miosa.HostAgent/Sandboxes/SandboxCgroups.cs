namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// The cgroups of this host's sandboxes: one cgroup <c>&lt;parent&gt;/&lt;sandboxId&gt;</c> per sandbox
/// (in each v1 hierarchy, or once in the v2 tree) holding memory, pids and cpu limits and the usage
/// meters. Pick the implementation with <see cref="Detect"/>.
/// </summary>
public interface ISandboxCgroups
{
    /// <summary><c>v1</c> or <c>v2</c>.</summary>
    string Version { get; }

    /// <summary>Creates the sandbox's cgroup with its limits; a stale one of that name is emptied and replaced.</summary>
    Task<ISandboxCgroup> CreateAsync(string sandboxId, SandboxLimits limits, CancellationToken ct);

    /// <summary>The sandbox's existing cgroup (e.g. left by a killed node), or null.</summary>
    ISandboxCgroup? Open(string sandboxId);

    /// <summary>
    /// Removes sandbox cgroups that hold no process and are older than <paramref name="minimumAge"/>
    /// (left by nodes that died or whose data was deleted); younger ones may be starting right now
    /// in another node sharing this host. Returns how many it removed.
    /// </summary>
    int RemoveAbandoned(TimeSpan minimumAge);
}

/// <summary>One sandbox's cgroup.</summary>
public interface ISandboxCgroup
{
    string SandboxId { get; }

    /// <summary>The <c>cgroup.procs</c> files a process writes its pid to, to join (one per v1 hierarchy).</summary>
    IReadOnlyList<string> ProcsFiles { get; }

    SandboxUsage ReadUsage();

    /// <summary>Host pids of every process in the cgroup.</summary>
    IReadOnlyList<int> ReadPids();

    /// <summary>Stops every process where it is (suspend); false if this host has no freezer.</summary>
    bool Freeze();

    void Thaw();

    /// <summary>Whether the freeze has completed (every process stopped); false when thawed, thawing or without a freezer.</summary>
    bool IsFrozen();

    /// <summary>SIGKILLs every process, waits until the cgroup is empty and removes it.</summary>
    Task DestroyAsync(CancellationToken ct);
}

public static class SandboxCgroups
{
    private static readonly string[] V2Controllers = ["memory", "pids", "cpu"];
    private const int NoSuchDevice = 19;

    /// <summary>
    /// Uses cgroup v2 when its unified tree offers memory, pids and cpu, else the v1 hierarchies
    /// (memory, pids, cpu, cpuacct; freezer when mounted).
    /// </summary>
    public static ISandboxCgroups Detect(string parent = "miosa")
    {
        if (parent.Length == 0 || parent.Split('/').Any(p => p is "" or "." or ".."))
        {
            throw new ArgumentException($"Invalid cgroup parent '{parent}'.", nameof(parent));
        }

        var mounts = File.ReadAllLines("/proc/self/mounts")
            .Select(line => line.Split(' '))
            .Where(f => f.Length >= 4)
            .Select(f => (Path: f[1].Replace("\\040", " ", StringComparison.Ordinal), Type: f[2], Options: f[3].Split(',')))
            .ToList();

        foreach (var (path, _, _) in mounts.Where(m => m.Type == "cgroup2"))
        {
            var controllers = Path.Combine(path, "cgroup.controllers");
            if (File.Exists(controllers) && V2Controllers.All(File.ReadAllText(controllers).Split().Contains))
            {
                return new CgroupV2(path, parent);
            }
        }

        var v1 = new Dictionary<string, string>();
        foreach (var (path, _, options) in mounts.Where(m => m.Type == "cgroup"))
        {
            foreach (var option in options)
            {
                v1.TryAdd(option, path);
            }
        }

        if (CgroupV1.Required.All(v1.ContainsKey))
        {
            return new CgroupV1(v1, parent);
        }

        throw new InvalidOperationException(
            "No usable cgroups: need cgroup v2 with memory, pids and cpu controllers, or cgroup v1 memory, pids, cpu and cpuacct hierarchies.");
    }

    internal static long ReadLong(string file) => long.Parse(File.ReadAllText(file).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The value of <c>key N</c> in a flat-keyed cgroup file, or null.</summary>
    internal static long? ReadKey(string file, string key)
    {
        if (!File.Exists(file))
        {
            return null;
        }

        foreach (var line in File.ReadLines(file))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[0] == key && long.TryParse(parts[1], out var value))
            {
                return value;
            }
        }

        return null;
    }

    internal static IReadOnlyList<int> ReadPids(string procsFile)
    {
        try
        {
            return File.ReadAllLines(procsFile).Where(l => l.Length > 0).Select(int.Parse).ToList();
        }
        // ENODEV: the cgroup is being removed right now (another node's clean-up): it holds nothing.
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException || (e is IOException && e.HResult == NoSuchDevice))
        {
            return [];
        }
    }

    /// <summary>
    /// Kills until the cgroup is empty (processes forking while being killed are caught by the next
    /// round), then removes its directories. The caller has already frozen what it could.
    /// </summary>
    internal static async Task EmptyAndRemoveAsync(ISandboxCgroup cgroup, IReadOnlyList<string> directories, Action? beforeKill, Action? afterKill, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            beforeKill?.Invoke();
            var pids = cgroup.ReadPids();
            foreach (var pid in pids)
            {
                HostSyscalls.Signal(pid, HostSyscalls.SigKill);
            }

            afterKill?.Invoke();
            if (pids.Count == 0 && TryRemove(directories))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new IOException($"The cgroup of sandbox {cgroup.SandboxId} did not empty within 10 s.");
            }

            await Task.Delay(1, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Shared by v1 and v2: <paramref name="primary"/> is the directory holding one cgroup per sandbox.</summary>
    internal static int RemoveAbandoned(ISandboxCgroups cgroups, string primary, TimeSpan minimumAge)
    {
        var removed = 0;
        var cutoff = DateTime.UtcNow - minimumAge;
        foreach (var directory in Directory.Exists(primary) ? Directory.GetDirectories(primary) : [])
        {
            if (Directory.GetLastWriteTimeUtc(directory) > cutoff || cgroups.Open(Path.GetFileName(directory)) is not { } cgroup || cgroup.ReadPids().Count > 0)
            {
                continue;
            }

            if (TryRemove(cgroup is CgroupV1.Sandbox v1 ? v1.Directories : [directory]))
            {
                removed++;
            }
        }

        return removed;
    }

    private static bool TryRemove(IReadOnlyList<string> directories)
    {
        foreach (var directory in directories)
        {
            try
            {
                // cgroup directories hold only control files: rmdir (not recursive delete) removes them.
                Directory.Delete(directory);
            }
            catch (DirectoryNotFoundException)
            {
            }
            catch (IOException)
            {
                return false;
            }
        }

        return true;
    }

    internal static void Write(string file, string value) => File.WriteAllText(file, value);
}
