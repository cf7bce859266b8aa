using System.Text;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Tests.Sandboxes;

/// <summary>
/// A jail driver of its own (temp root, own cgroup parent) per test class, so classes run in
/// parallel without touching each other or a real node's sandboxes.
/// </summary>
public sealed class SandboxFixture : IAsyncLifetime
{
    private readonly string _temp = Path.Combine(Path.GetTempPath(), "miosa-tests-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly string _cgroupParent = "miosa-test-" + Guid.NewGuid().ToString("N")[..12];

    public JailSandboxDriver Driver { get; private set; } = null!;

    public string Root => Driver.RootDirectory;

    public Task InitializeAsync()
    {
        Driver = NewDriver();
        return Task.CompletedTask;
    }

    /// <summary>Another driver on the same root and cgroups, as after a node restart.</summary>
    public JailSandboxDriver NewDriver() =>
        new(Path.Combine(_temp, "sandboxes"), new JailSandboxOptions { CgroupParent = _cgroupParent });

    public static string NewId() => "sbx_" + Guid.NewGuid().ToString("N")[..16];

    public static SandboxSpec Spec(string? id = null, SandboxLimits? limits = null, IReadOnlyDictionary<string, string>? env = null) =>
        new(id ?? NewId(), new SandboxTemplate("miosa-sandbox", new Dictionary<string, string> { ["TEMPLATE_VAR"] = "from-template" }), env ?? new Dictionary<string, string>(), limits ?? SandboxLimits.Default);

    public async Task<SandboxAgentClient> StartAsync(SandboxSpec? spec = null)
    {
        var sandbox = await Driver.StartAsync(spec ?? Spec(), CancellationToken.None);
        return new SandboxAgentClient(sandbox.AgentSocket);
    }

    public async Task DisposeAsync()
    {
        var ids = Directory.Exists(Root) ? Directory.GetDirectories(Root).Select(Path.GetFileName).Where(n => n!.StartsWith("sbx_", StringComparison.Ordinal)).ToList() : [];
        foreach (var id in ids)
        {
            await Driver.DestroyAsync(id!, CancellationToken.None);
        }

        foreach (var parent in Directory.GetDirectories("/sys/fs/cgroup").Select(d => Path.Combine(d, _cgroupParent)).Append(Path.Combine("/sys/fs/cgroup", _cgroupParent)))
        {
            if (Directory.Exists(parent))
            {
                Directory.Delete(parent);
            }
        }

        Directory.Delete(_temp, recursive: true);
    }
}

/// <summary>What a user sees of a command.</summary>
public sealed record ExecOutput(ExecResult Result, string Stdout, string Stderr)
{
    public int ExitCode => Result.ExitCode;
}

public static class SandboxAgentClientExtensions
{
    public static async Task<ExecOutput> RunAsync(this SandboxAgentClient client, string command, TimeSpan? timeout = null, string? stdin = null, IReadOnlyDictionary<string, string>? env = null, string? cwd = null, CancellationToken ct = default)
    {
        var request = new ExecRequest(
            ["/bin/sh", "-c", command],
            cwd,
            env ?? new Dictionary<string, string>(),
            timeout ?? TimeSpan.FromSeconds(20),
            stdin is null ? null : Encoding.UTF8.GetBytes(stdin));
        return await client.RunAsync(request, ct);
    }

    public static async Task<ExecOutput> RunAsync(this SandboxAgentClient client, ExecRequest request, CancellationToken ct = default)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var result = await client.ExecAsync(
            request,
            (chunk, _) =>
            {
                (chunk.Stream == ExecStream.Stdout ? stdout : stderr).Write(chunk.Data.Span);
                return ValueTask.CompletedTask;
            },
            ct);
        return new ExecOutput(result, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }
}
