using Miosa.HostAgent.Sandboxes;
using Miosa.HostAgent.Storage;
using Miosa.HostAgent.Tests.Sandboxes;

namespace Miosa.HostAgent.Tests.Storage;

/// <summary>
/// A jail driver on a btrfs sandbox volume of its own (a sparse image in a temp data dir, loop-mounted),
/// as a node sets it up; unmounted and deleted afterwards.
/// </summary>
public sealed class VolumeFixture : IAsyncLifetime
{
    private readonly string _cgroupParent = "miosa-test-" + Guid.NewGuid().ToString("N")[..12];

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "miosa-volume-" + Guid.NewGuid().ToString("N")[..12]);

    public BtrfsVolume Volume { get; private set; } = null!;

    public JailSandboxDriver Driver { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(DataDirectory);
        File.SetUnixFileMode(DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherExecute);
        Volume = BtrfsVolume.Open(DataDirectory, 4L << 30);
        Driver = new JailSandboxDriver(Volume.SandboxesDirectory, new JailSandboxOptions { CgroupParent = _cgroupParent, Storage = Volume });
        return Task.CompletedTask;
    }

    public static SandboxSpec Spec(int diskMb = 256, WorkspaceSeed? seed = null) =>
        SandboxFixture.Spec(limits: SandboxLimits.Default with { DiskMb = diskMb }) with { Seed = seed };

    public async Task<(SandboxSpec Spec, SandboxAgentClient Client)> StartAsync(SandboxSpec? spec = null)
    {
        spec ??= Spec();
        var sandbox = await Driver.StartAsync(spec, CancellationToken.None);
        return (spec, new SandboxAgentClient(sandbox.AgentSocket));
    }

    public async Task DisposeAsync()
    {
        foreach (var id in Directory.GetDirectories(Volume.SandboxesDirectory).Select(Path.GetFileName).Where(n => n!.StartsWith("sbx_", StringComparison.Ordinal)))
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

        BtrfsVolume.Unmount(DataDirectory);
        Directory.Delete(DataDirectory, recursive: true);
    }
}
