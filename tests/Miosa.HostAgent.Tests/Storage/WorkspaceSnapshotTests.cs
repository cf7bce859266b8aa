using System.Globalization;
using System.Security.Cryptography;
using Miosa.HostAgent.Sandboxes;
using Miosa.HostAgent.Storage;
using Miosa.HostAgent.Tests.Sandboxes;

namespace Miosa.HostAgent.Tests.Storage;

/// <summary>Snapshots, restores and forks of real sandboxes on a real btrfs volume.</summary>
public sealed class WorkspaceSnapshotTests(VolumeFixture fixture) : IClassFixture<VolumeFixture>
{
    private const string Fill = "mkdir -p src/a src/b && head -c 3000000 /dev/urandom > src/a/big.bin && echo hello > src/b/small.txt && ln -s a/big.bin src/link && chmod 750 src/b";

    [Fact]
    public async Task A_snapshot_under_concurrent_writes_holds_a_prefix_of_complete_lines()
    {
        var (spec, client) = await fixture.StartAsync();
        // Numbered lines, each written whole with one write(2), as fast as the shell can.
        var writer = await client.RunAsync("nohup sh -c 'i=0; while :; do i=$((i+1)); echo \"line $i of the log\" >> log.txt; done' >/dev/null 2>&1 &");
        Assert.Equal(0, writer.ExitCode);
        await Task.Delay(300);

        var snapshotId = NewSnapshotId();
        var stored = await fixture.Driver.SnapshotAsync(spec.SandboxId, snapshotId, CancellationToken.None);

        // The writer goes on after the snapshot: the sandbox was thawed.
        var before = (await client.RunAsync("wc -l < log.txt")).Stdout.Trim();
        await Task.Delay(200);
        var after = (await client.RunAsync("wc -l < log.txt")).Stdout.Trim();
        Assert.True(long.Parse(after, CultureInfo.InvariantCulture) > long.Parse(before, CultureInfo.InvariantCulture));
        await client.RunAsync("pkill -f 'line' || true");

        var (restoredSpec, restored) = await fixture.StartAsync(VolumeFixture.Spec(seed: new WorkspaceSeed(snapshotId, null)));
        var text = (await restored.RunAsync("cat log.txt")).Stdout;
        var lines = text.Split('\n');
        Assert.True(lines.Length > 10, "the writer wrote before the snapshot");
        Assert.Equal("", lines[^1]);
        for (var i = 0; i < lines.Length - 1; i++)
        {
            Assert.Equal($"line {i + 1} of the log", lines[i]);
        }

        Assert.Equal(1, stored.Files);
        await fixture.Driver.DestroyAsync(restoredSpec.SandboxId, CancellationToken.None);
    }

    [Fact]
    public async Task Restore_brings_back_the_snapshot_byte_for_byte_and_restarts_processes()
    {
        var (spec, client) = await fixture.StartAsync();
        Assert.Equal(0, (await client.RunAsync(Fill)).ExitCode);
        var expected = Checksums(fixture.Driver.WorkspacePath(spec.SandboxId));
        var snapshotId = NewSnapshotId();
        await fixture.Driver.SnapshotAsync(spec.SandboxId, snapshotId, CancellationToken.None);
        await client.RunAsync("rm -rf src; echo changed > new.txt; sleep 600 >/dev/null 2>&1 &");

        var running = await fixture.Driver.RestoreAsync(spec, snapshotId, CancellationToken.None);

        var after = new SandboxAgentClient(running.AgentSocket);
        Assert.Equal(expected, Checksums(fixture.Driver.WorkspacePath(spec.SandboxId)));
        var check = await after.RunAsync("stat -c '%a %u %U' src/b; readlink src/link; pgrep -x sleep || echo no-sleep; touch src/writable && echo ok");
        Assert.Equal("750 1000 user\na/big.bin\nno-sleep\nok\n", check.Stdout);
    }

    [Fact]
    public async Task Forks_are_copies_isolated_from_each_other_and_from_their_source()
    {
        var (source, client) = await fixture.StartAsync();
        Assert.Equal(0, (await client.RunAsync(Fill)).ExitCode);
        var expected = Checksums(fixture.Driver.WorkspacePath(source.SandboxId));

        var forks = new List<(SandboxSpec Spec, SandboxAgentClient Client)>();
        for (var i = 0; i < 3; i++)
        {
            forks.Add(await fixture.StartAsync(VolumeFixture.Spec(seed: new WorkspaceSeed(null, source.SandboxId))));
        }

        foreach (var fork in forks)
        {
            Assert.Equal(expected, Checksums(fixture.Driver.WorkspacePath(fork.Spec.SandboxId)));
        }

        Assert.Equal(0, (await forks[0].Client.RunAsync("echo mine > only-in-fork-0 && echo changed > src/b/small.txt")).ExitCode);
        foreach (var other in forks.Skip(1).Append((source, client)))
        {
            var seen = await other.Item2.RunAsync("ls only-in-fork-0 2>/dev/null || echo absent; cat src/b/small.txt");
            Assert.Equal("absent\nhello\n", seen.Stdout);
        }

        // Each fork is its own host uid, and the source can still write.
        var owners = forks.Select(f => File.GetUnixFileMode(fixture.Driver.WorkspacePath(f.Spec.SandboxId))).ToList();
        Assert.All(owners, o => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, o));
        Assert.Equal("ok\n", (await client.RunAsync("echo x >> src/b/small.txt && echo ok")).Stdout);
        Assert.Equal("ok\n", (await forks[2].Client.RunAsync("echo x >> src/a/big.bin && echo ok")).Stdout);
    }

    [Fact]
    public async Task Unchanged_content_is_stored_once()
    {
        var (spec, client) = await fixture.StartAsync();
        Assert.Equal(0, (await client.RunAsync("mkdir data && for i in 1 2 3 4; do head -c 5000000 /dev/urandom > data/$i.bin; done")).ExitCode);

        var first = await fixture.Driver.SnapshotAsync(spec.SandboxId, NewSnapshotId(), CancellationToken.None);
        var second = await fixture.Driver.SnapshotAsync(spec.SandboxId, NewSnapshotId(), CancellationToken.None);
        await client.RunAsync("head -c 1000 /dev/urandom > data/5.bin");
        var third = await fixture.Driver.SnapshotAsync(spec.SandboxId, NewSnapshotId(), CancellationToken.None);

        Assert.Equal(20_000_000, first.NewBytes);
        Assert.Equal(20_000_000, second.TotalBytes);
        Assert.Equal(0, second.NewBytes);
        Assert.Equal(1000, third.NewBytes);
    }

    [Fact]
    public async Task A_snapshot_outlives_its_sandbox_and_deleting_it_frees_what_only_it_held()
    {
        var (spec, client) = await fixture.StartAsync();
        await client.RunAsync("head -c 4000000 /dev/urandom > unique.bin && echo shared > shared.txt");
        var snapshotId = NewSnapshotId();
        await fixture.Driver.SnapshotAsync(spec.SandboxId, snapshotId, CancellationToken.None);
        var expected = Checksums(fixture.Driver.WorkspacePath(spec.SandboxId));
        await fixture.Driver.DestroyAsync(spec.SandboxId, CancellationToken.None);

        var (fromSnapshot, _) = await fixture.StartAsync(VolumeFixture.Spec(seed: new WorkspaceSeed(snapshotId, null)));
        Assert.Equal(expected, Checksums(fixture.Driver.WorkspacePath(fromSnapshot.SandboxId)));

        Assert.True(fixture.Driver.DeleteSnapshot(snapshotId) >= 4_000_000);
        Assert.False(fixture.Driver.Store.Contains(snapshotId));
    }

    internal static string NewSnapshotId() => "snap_" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>sha256 of every file, the target of every symlink and every directory, by relative path.</summary>
    internal static string Checksums(string root)
    {
        var lines = WorkspaceTree.Walk(root).Select(e => e.Info switch
        {
            { LinkTarget: { } link } => $"{e.Relative} -> {link}",
            DirectoryInfo d => $"{e.Relative}/ {Convert.ToString((int)d.UnixFileMode, 8)}",
            FileInfo f => $"{e.Relative} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f.FullName)))} {Convert.ToString((int)f.UnixFileMode, 8)}",
            _ => e.Relative,
        });
        return string.Join('\n', lines);
    }
}
