namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// Runs isolated sandboxes on this host. The host agent actor calls it for control operations;
/// the node ingress reaches a running sandbox's data plane through <see cref="SandboxAgentClient"/>
/// on <see cref="RunningSandbox.AgentSocket"/>.
/// </summary>
public interface ISandboxDriver
{
    /// <summary>Driver name as reported to the scheduler (e.g. "jail").</summary>
    string Name { get; }

    /// <summary>
    /// Starts the sandbox and returns once its in-sandbox agent answers (ready for exec).
    /// Idempotent: a sandbox that already runs is returned as it is. An existing workspace
    /// (after a node restart) is reused, so files survive; processes start fresh.
    /// </summary>
    Task<RunningSandbox> StartAsync(SandboxSpec spec, CancellationToken ct);

    /// <summary>Stops every process of the sandbox; keeps its workspace.</summary>
    Task StopAsync(string sandboxId, CancellationToken ct);

    /// <summary>Stops the sandbox and deletes its workspace and every trace of it on the host.</summary>
    Task DestroyAsync(string sandboxId, CancellationToken ct);

    /// <summary>The running sandbox, or null when it is not running on this host.</summary>
    RunningSandbox? Find(string sandboxId);

    /// <summary>Measured usage of a running sandbox (cgroup accounting), or null.</summary>
    SandboxUsage? ReadUsage(string sandboxId);

    /// <summary>Every sandbox running on this host now (what the usage meter reads).</summary>
    IReadOnlyList<RunningSandbox> Running { get; }

    /// <summary>Freezes every process of a running sandbox (no CPU, memory kept); false if it does not run here.</summary>
    bool Suspend(string sandboxId);

    /// <summary>Thaws a frozen sandbox; false if it does not run here.</summary>
    bool Resume(string sandboxId);

    /// <summary>Whether the sandbox runs here frozen.</summary>
    bool IsSuspended(string sandboxId);

    /// <summary>Bytes in the sandbox's workspace, or null if it has none here. Walks the tree: not cheap.</summary>
    long? MeasureWorkspace(string sandboxId);
}

public sealed record SandboxSpec(
    string SandboxId,
    SandboxTemplate Template,
    IReadOnlyDictionary<string, string> Env,
    SandboxLimits Limits)
{
    /// <summary>Outbound network through user-mode NAT (the host's loopback and private ranges stay out of reach); else loopback only.</summary>
    public bool AllowInternet { get; init; }

    /// <summary>What a new workspace starts with (a snapshot, or a fork's source); null: empty. Ignored once the workspace exists.</summary>
    public WorkspaceSeed? Seed { get; init; }
}

/// <summary>A new workspace as a copy of snapshot <see cref="SnapshotId"/>, or of sandbox <see cref="ForkOf"/>'s workspace as it is now.</summary>
public sealed record WorkspaceSeed(string? SnapshotId, string? ForkOf);

/// <summary>A root filesystem profile: what the sandbox sees and its default environment.</summary>
/// <param name="SystemRoot">The directory mounted read-only as the sandbox's system (its /usr, /bin, /lib, /etc); "/" is the host's.</param>
public sealed record SandboxTemplate(string Name, IReadOnlyDictionary<string, string> Env, string SystemRoot = "/");

/// <summary>cgroup limits applied to every process of a sandbox.</summary>
public sealed record SandboxLimits(double Cpu, int MemoryMb, int Pids)
{
    /// <summary>Bytes the workspace may hold, in MiB (where the storage limits disk); 0: no limit.</summary>
    public int DiskMb { get; init; }

    public static SandboxLimits Default { get; } = new(Cpu: 1, MemoryMb: 512, Pids: 256);
}

public sealed record RunningSandbox(string SandboxId, string AgentSocket, int HostPid)
{
    /// <summary>When this run began (its cgroup was created): where its first usage window starts.</summary>
    public DateTimeOffset StartedAt { get; init; }
}

public sealed record SandboxUsage(TimeSpan CpuTime, long MemoryBytes, bool OomKilled)
{
    /// <summary>
    /// How many processes the kernel's OOM killer has killed in the sandbox so far (monotonic):
    /// compare before and after an exec to tell that the exec hit the memory limit.
    /// </summary>
    public long OomKills { get; init; }
}
