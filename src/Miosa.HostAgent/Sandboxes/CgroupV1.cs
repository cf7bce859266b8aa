using System.Globalization;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// cgroup v1: one directory per hierarchy (memory, pids, cpu, cpuacct, freezer; shared when
/// controllers are co-mounted, e.g. <c>cpu,cpuacct</c>).
/// </summary>
internal sealed class CgroupV1 : ISandboxCgroups
{
    public static readonly string[] Required = ["memory", "pids", "cpu", "cpuacct"];

    private readonly Dictionary<string, string> _parents = [];

    public CgroupV1(IReadOnlyDictionary<string, string> mounts, string parent)
    {
        foreach (var controller in Required.Append("freezer"))
        {
            if (mounts.TryGetValue(controller, out var mount))
            {
                _parents[controller] = Path.Combine(mount, parent);
                Directory.CreateDirectory(_parents[controller]);
            }
        }
    }

    public string Version => "v1";

    public async Task<ISandboxCgroup> CreateAsync(string sandboxId, SandboxLimits limits, CancellationToken ct)
    {
        if (Open(sandboxId) is { } stale)
        {
            await stale.DestroyAsync(ct).ConfigureAwait(false);
        }

        var cgroup = new Sandbox(this, sandboxId);
        try
        {
            foreach (var directory in cgroup.Directories)
            {
                Directory.CreateDirectory(directory);
            }

            var memory = cgroup.Dir("memory");
            var bytes = ((long)limits.MemoryMb * 1024 * 1024).ToString(CultureInfo.InvariantCulture);
            SandboxCgroups.Write(Path.Combine(memory, "memory.limit_in_bytes"), bytes);
            // memory+swap at the same limit: a sandbox never swaps its way past its memory.
            var memsw = Path.Combine(memory, "memory.memsw.limit_in_bytes");
            if (File.Exists(memsw))
            {
                SandboxCgroups.Write(memsw, bytes);
            }

            SandboxCgroups.Write(Path.Combine(cgroup.Dir("pids"), "pids.max"), limits.Pids.ToString(CultureInfo.InvariantCulture));
            var cpu = cgroup.Dir("cpu");
            const long period = 100_000;
            SandboxCgroups.Write(Path.Combine(cpu, "cpu.cfs_period_us"), period.ToString(CultureInfo.InvariantCulture));
            var quota = limits.Cpu > 0 ? Math.Max(1000, (long)(limits.Cpu * period)) : -1;
            SandboxCgroups.Write(Path.Combine(cpu, "cpu.cfs_quota_us"), quota.ToString(CultureInfo.InvariantCulture));
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
        var cgroup = new Sandbox(this, sandboxId);
        return cgroup.Directories.Any(Directory.Exists) ? cgroup : null;
    }

    public int RemoveAbandoned(TimeSpan minimumAge) => SandboxCgroups.RemoveAbandoned(this, _parents["memory"], minimumAge);

    internal sealed class Sandbox : ISandboxCgroup
    {
        private readonly Dictionary<string, string> _dirs;

        public Sandbox(CgroupV1 tree, string sandboxId)
        {
            SandboxId = sandboxId;
            _dirs = tree._parents.ToDictionary(p => p.Key, p => Path.Combine(p.Value, sandboxId));
            Directories = _dirs.Values.Distinct().ToList();
            ProcsFiles = Directories.Select(d => Path.Combine(d, "cgroup.procs")).ToList();
        }

        public string SandboxId { get; }

        public IReadOnlyList<string> Directories { get; }

        public IReadOnlyList<string> ProcsFiles { get; }

        public string Dir(string controller) => _dirs[controller];

        public SandboxUsage ReadUsage()
        {
            var cpu = SandboxCgroups.ReadLong(Path.Combine(Dir("cpuacct"), "cpuacct.usage"));
            var memory = SandboxCgroups.ReadLong(Path.Combine(Dir("memory"), "memory.usage_in_bytes"));
            // Kernels since 4.13 count kills in oom_control; older ones only count limit hits.
            var oomKills = SandboxCgroups.ReadKey(Path.Combine(Dir("memory"), "memory.oom_control"), "oom_kill")
                ?? SandboxCgroups.ReadLong(Path.Combine(Dir("memory"), "memory.failcnt"));
            return new SandboxUsage(TimeSpan.FromTicks(cpu / 100), memory, oomKills > 0) { OomKills = oomKills };
        }

        public IReadOnlyList<int> ReadPids() =>
            ProcsFiles.SelectMany(SandboxCgroups.ReadPids).Distinct().ToList();

        public bool Freeze()
        {
            if (!_dirs.TryGetValue("freezer", out var freezer))
            {
                return false;
            }

            SandboxCgroups.Write(Path.Combine(freezer, "freezer.state"), "FROZEN");
            return true;
        }

        public void Thaw()
        {
            if (_dirs.TryGetValue("freezer", out var freezer) && Directory.Exists(freezer))
            {
                SandboxCgroups.Write(Path.Combine(freezer, "freezer.state"), "THAWED");
            }
        }

        public bool IsFrozen() =>
            _dirs.TryGetValue("freezer", out var freezer)
            && File.Exists(Path.Combine(freezer, "freezer.state"))
            && File.ReadAllText(Path.Combine(freezer, "freezer.state")).Trim() == "FROZEN";

        public Task DestroyAsync(CancellationToken ct) =>
            // Frozen while killed, so nothing forks between reading the pids and killing them;
            // v1 delivers SIGKILL to frozen tasks only once they are thawed.
            SandboxCgroups.EmptyAndRemoveAsync(this, Directories, () => TryFreeze(), Thaw, ct);

        private void TryFreeze()
        {
            try
            {
                Freeze();
            }
            catch (IOException)
            {
            }
        }
    }
}
