using System.Globalization;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// cgroup v2: one directory <c>&lt;mount&gt;/&lt;parent&gt;/&lt;sandboxId&gt;</c>. The memory, pids and cpu
/// controllers are enabled down the path (a cgroup that enables controllers for its children must
/// hold no processes itself, so the parent stays empty).
/// </summary>
internal sealed class CgroupV2 : ISandboxCgroups
{
    private const string Controllers = "+memory +pids +cpu";

    private readonly string _parent;

    public CgroupV2(string mount, string parent)
    {
        _parent = Path.Combine(mount, parent);
        var directory = mount;
        foreach (var part in parent.Split('/'))
        {
            EnableControllers(directory);
            directory = Path.Combine(directory, part);
            Directory.CreateDirectory(directory);
        }

        EnableControllers(_parent);
    }

    public string Version => "v2";

    private static void EnableControllers(string directory)
    {
        var control = Path.Combine(directory, "cgroup.subtree_control");
        var enabled = File.ReadAllText(control).Split();
        if (!new[] { "memory", "pids", "cpu" }.All(enabled.Contains))
        {
            try
            {
                SandboxCgroups.Write(control, Controllers);
            }
            catch (IOException e)
            {
                throw new InvalidOperationException(
                    $"Cannot enable {Controllers} in {control}: a cgroup with processes of its own cannot delegate controllers (move this service into a leaf cgroup, e.g. systemd Delegate=yes).",
                    e);
            }
        }
    }

    public async Task<ISandboxCgroup> CreateAsync(string sandboxId, SandboxLimits limits, CancellationToken ct)
    {
        if (Open(sandboxId) is { } stale)
        {
            await stale.DestroyAsync(ct).ConfigureAwait(false);
        }

        var cgroup = new Sandbox(Path.Combine(_parent, sandboxId), sandboxId);
        try
        {
            Directory.CreateDirectory(cgroup.Directory);
            var dir = cgroup.Directory;
            SandboxCgroups.Write(Path.Combine(dir, "memory.max"), ((long)limits.MemoryMb * 1024 * 1024).ToString(CultureInfo.InvariantCulture));
            if (File.Exists(Path.Combine(dir, "memory.swap.max")))
            {
                SandboxCgroups.Write(Path.Combine(dir, "memory.swap.max"), "0");
            }

            SandboxCgroups.Write(Path.Combine(dir, "pids.max"), limits.Pids.ToString(CultureInfo.InvariantCulture));
            const long period = 100_000;
            var quota = limits.Cpu > 0 ? Math.Max(1000, (long)(limits.Cpu * period)).ToString(CultureInfo.InvariantCulture) : "max";
            SandboxCgroups.Write(Path.Combine(dir, "cpu.max"), $"{quota} {period}");
            return cgroup;
        }
        catch
        {
            await cgroup.DestroyAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public ISandboxCgroup? Open(string sandboxId)
    {
        var directory = Path.Combine(_parent, sandboxId);
        return System.IO.Directory.Exists(directory) ? new Sandbox(directory, sandboxId) : null;
    }

    public int RemoveAbandoned(TimeSpan minimumAge) => SandboxCgroups.RemoveAbandoned(this, _parent, minimumAge);

    private sealed class Sandbox(string directory, string sandboxId) : ISandboxCgroup
    {
        public string Directory { get; } = directory;

        public string SandboxId { get; } = sandboxId;

        public IReadOnlyList<string> ProcsFiles { get; } = [Path.Combine(directory, "cgroup.procs")];

        public SandboxUsage ReadUsage()
        {
            var cpuMicros = SandboxCgroups.ReadKey(Path.Combine(Directory, "cpu.stat"), "usage_usec") ?? 0;
            var memory = SandboxCgroups.ReadLong(Path.Combine(Directory, "memory.current"));
            var oomKills = SandboxCgroups.ReadKey(Path.Combine(Directory, "memory.events"), "oom_kill") ?? 0;
            return new SandboxUsage(TimeSpan.FromTicks(cpuMicros * 10), memory, oomKills > 0) { OomKills = oomKills };
        }

        public IReadOnlyList<int> ReadPids() => SandboxCgroups.ReadPids(ProcsFiles[0]);

        public bool Freeze()
        {
            SandboxCgroups.Write(Path.Combine(Directory, "cgroup.freeze"), "1");
            return true;
        }

        public void Thaw()
        {
            if (System.IO.Directory.Exists(Directory))
            {
                SandboxCgroups.Write(Path.Combine(Directory, "cgroup.freeze"), "0");
            }
        }

        public bool IsFrozen() => SandboxCgroups.ReadKey(Path.Combine(Directory, "cgroup.events"), "frozen") == 1;

        public Task DestroyAsync(CancellationToken ct)
        {
            // cgroup.kill (Linux 5.14+) kills everything at once, forks included; older kernels get
            // the kill loop. v2 delivers SIGKILL to frozen tasks, so no thaw is needed.
            var kill = Path.Combine(Directory, "cgroup.kill");
            void KillAll()
            {
                if (File.Exists(kill))
                {
                    try
                    {
                        SandboxCgroups.Write(kill, "1");
                    }
                    catch (IOException)
                    {
                    }
                }
            }

            return SandboxCgroups.EmptyAndRemoveAsync(this, [Directory], KillAll, null, ct);
        }
    }
}
