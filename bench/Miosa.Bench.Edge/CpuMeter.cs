using System.Globalization;

namespace Miosa.Bench.Edge;

/// <summary>CPU used during a measurement, in ms, by who: the harness, the node, the sandbox, the whole machine.</summary>
public sealed record CpuUse(double HarnessMs, double NodeMs, double SandboxMs, double MachineBusyMs, double MachineTotalMs)
{
    public CpuUse Plus(CpuUse other) => new(HarnessMs + other.HarnessMs, NodeMs + other.NodeMs, SandboxMs + other.SandboxMs,
        MachineBusyMs + other.MachineBusyMs, MachineTotalMs + other.MachineTotalMs);

    public static CpuUse Zero { get; } = new(0, 0, 0, 0, 0);

    public double BusyPercent => MachineTotalMs > 0 ? 100 * MachineBusyMs / MachineTotalMs : 0;
}

/// <summary>
/// Reads CPU time from /proc: the harness itself (the load generator, and the in-process edge when
/// there is one), the node process (API, edge and host ingress share it), and every process in one
/// sandbox's cgroup (the agent that relays the port bridge, and the app).
/// </summary>
public sealed class CpuMeter(int nodePid, string sandboxId)
{
    private static readonly double TickMs = 1000.0 / 100; // USER_HZ is 100 on Linux

    public Snapshot Take() => new(
        ProcessMs(Environment.ProcessId),
        ProcessMs(nodePid),
        SandboxMs(),
        Machine());

    public sealed record Snapshot(double HarnessMs, double NodeMs, double SandboxMs, (double Busy, double Total) Machine)
    {
        public CpuUse Since(Snapshot before) => new(HarnessMs - before.HarnessMs, NodeMs - before.NodeMs, SandboxMs - before.SandboxMs,
            Machine.Busy - before.Machine.Busy, Machine.Total - before.Machine.Total);
    }

    /// <summary>CPU time (user + system) a process has used so far, in ms; 0 once it is gone.</summary>
    public static double ProcessMs(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Fields 14 and 15 of stat (utime, stime); index 0 here is field 3.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * TickMs;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }

    private double SandboxMs()
    {
        var total = 0.0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (!int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cgroup")).Contains(sandboxId, StringComparison.Ordinal)) total += ProcessMs(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }
        return total;
    }

    private static (double Busy, double Total) Machine()
    {
        var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        var total = cpu.Take(8).Sum();
        var idle = cpu[3] + cpu[4];
        return ((total - idle) * TickMs, total * TickMs);
    }
}
