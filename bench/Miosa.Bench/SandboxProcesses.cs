namespace Miosa.Bench;

/// <summary>One process on the host as /proc shows it.</summary>
public sealed record HostProcess(int Pid, int ParentPid, string Command, string Cgroups);

/// <summary>
/// Finds the host processes that make up a node's sandboxes and what memory they use. A process
/// belongs to a sandbox when it descends from the node and is (or runs under) a bwrap process or
/// sits in a <c>miosa</c> cgroup, or when its cgroup path names one of the sandboxes.
/// </summary>
public static class SandboxProcesses
{
    public static List<HostProcess> Snapshot()
    {
        var processes = new List<HostProcess>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                var close = stat.LastIndexOf(')');
                var fields = stat[(close + 2)..].Split(' ');
                processes.Add(new HostProcess(pid, int.Parse(fields[1]), stat[(open + 1)..close], File.ReadAllText(Path.Combine(dir, "cgroup"))));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
                // The process exited while we read it.
            }
        }
        return processes;
    }

    /// <summary>The processes of the node's sandboxes (never the node itself).</summary>
    public static List<HostProcess> Of(int nodePid, IReadOnlyCollection<string> sandboxIds)
    {
        var all = Snapshot();
        var byPid = all.ToDictionary(p => p.Pid);
        var found = new List<HostProcess>();
        foreach (var process in all)
        {
            if (process.Pid == nodePid) continue;
            if (sandboxIds.Any(id => process.Cgroups.Contains(id, StringComparison.Ordinal)))
            {
                found.Add(process);
                continue;
            }
            var underBwrap = false;
            var underNode = false;
            for (var current = process; ;)
            {
                underBwrap |= current.Command == "bwrap" || InMiosaCgroup(current);
                if (current.ParentPid == nodePid)
                {
                    underNode = true;
                    break;
                }
                if (current.ParentPid <= 1 || !byPid.TryGetValue(current.ParentPid, out var parent)) break;
                current = parent;
            }
            if (underNode && underBwrap) found.Add(process);
        }
        return found;
    }

    /// <summary>Proportional set size in bytes (/proc/PID/smaps_rollup), 0 when the process is gone.</summary>
    public static long Pss(int pid) => ReadKb($"/proc/{pid}/smaps_rollup", "Pss:") * 1024;

    /// <summary>Resident set size in bytes (/proc/PID/status VmRSS).</summary>
    public static long Rss(int pid) => ReadKb($"/proc/{pid}/status", "VmRSS:") * 1024;

    /// <summary>
    /// What the kernel charges to the memory cgroups the processes sit in (v1 memory.usage_in_bytes,
    /// v2 memory.current: their pages, page cache and kernel memory), summed over distinct cgroups.
    /// </summary>
    public static (long Bytes, int Cgroups) CgroupMemory(IEnumerable<HostProcess> processes)
    {
        var files = new HashSet<string>();
        var unified = File.Exists("/sys/fs/cgroup/cgroup.controllers");
        foreach (var line in processes.SelectMany(p => p.Cgroups.Split('\n')))
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3 || parts[2].Trim() is "/" or "") continue;
            if (parts[1].Split(',').Contains("memory")) files.Add(Path.Join("/sys/fs/cgroup/memory", parts[2].Trim(), "memory.usage_in_bytes"));
            else if (unified && parts[0] == "0") files.Add(Path.Join("/sys/fs/cgroup", parts[2].Trim(), "memory.current"));
        }
        long bytes = 0;
        var counted = 0;
        foreach (var file in files)
        {
            try
            {
                bytes += long.Parse(File.ReadAllText(file).Trim());
                counted++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // The cgroup went away or has no memory controller.
            }
        }
        return (bytes, counted);
    }

    /// <summary>Kernel memory of the whole host in bytes: Slab + KernelStack + PageTables (namespaces, cgroups, mounts, tasks).</summary>
    public static long HostKernel() =>
        (ReadKb("/proc/meminfo", "Slab:") + ReadKb("/proc/meminfo", "KernelStack:") + ReadKb("/proc/meminfo", "PageTables:")) * 1024;

    /// <summary>MemAvailable of the whole host in bytes.</summary>
    public static long HostAvailable() => ReadKb("/proc/meminfo", "MemAvailable:") * 1024;

    private static bool InMiosaCgroup(HostProcess process) =>
        process.Cgroups.Split('\n').Any(line => line.Contains("/miosa/", StringComparison.Ordinal) || line.EndsWith("/miosa", StringComparison.Ordinal));

    private static long ReadKb(string file, string field)
    {
        try
        {
            foreach (var line in File.ReadLines(file))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
                var value = line[field.Length..].Trim();
                return long.Parse(value.Split(' ')[0]);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone.
        }
        return 0;
    }

    public static string Mb(long bytes) => $"{bytes / 1_000_000.0:F2} MB";
}
