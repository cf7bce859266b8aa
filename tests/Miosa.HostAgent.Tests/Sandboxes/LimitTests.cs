using System.Text;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Tests.Sandboxes;

/// <summary>Attacks on a sandbox's limits: each is contained and the sandbox keeps working.</summary>
public sealed class LimitTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>
{
    [Fact]
    public async Task Fork_bomb_is_contained_by_the_pids_limit()
    {
        var client = await fixture.StartAsync(SandboxFixture.Spec(limits: new SandboxLimits(Cpu: 1, MemoryMb: 256, Pids: 64)));

        var bomb = await client.RunAsync(new ExecRequest(["bash", "-c", ":(){ :|:& };:"], null, new Dictionary<string, string>(), TimeSpan.FromSeconds(2), null));

        Assert.True(bomb.Result.TimedOut);
        var after = await RunWhenPossibleAsync(client, "echo alive; ps -e --no-headers | wc -l");
        var lines = after.Stdout.Split('\n');
        Assert.Equal("alive", lines[0]);
        Assert.InRange(int.Parse(lines[1], System.Globalization.CultureInfo.InvariantCulture), 1, 6);
    }

    [Fact]
    public async Task A_detached_fork_bomb_is_ended_by_kill_all()
    {
        var client = await fixture.StartAsync(SandboxFixture.Spec(limits: new SandboxLimits(Cpu: 1, MemoryMb: 256, Pids: 48)));

        // In its own session with its own output: out of the exec's reach, it keeps every pid busy.
        var bomb = await client.RunAsync("setsid bash -c ':(){ :|:& };:' </dev/null >/dev/null 2>&1 &", timeout: TimeSpan.FromSeconds(5));
        Assert.False(bomb.Result.TimedOut);
        await Task.Delay(200);

        await client.KillAllProcessesAsync(CancellationToken.None);

        var after = await client.RunAsync("echo alive; ps -e --no-headers | wc -l");
        Assert.Equal("alive", after.Stdout.Split('\n')[0]);
        Assert.InRange(int.Parse(after.Stdout.Split('\n')[1], System.Globalization.CultureInfo.InvariantCulture), 1, 6);
    }

    [Fact]
    public async Task Memory_hog_is_oom_killed_and_counted()
    {
        var spec = SandboxFixture.Spec(limits: new SandboxLimits(Cpu: 1, MemoryMb: 128, Pids: 64));
        var client = await fixture.StartAsync(spec);
        var before = fixture.Driver.ReadUsage(spec.SandboxId)!;

        var hog = await client.RunAsync(new ExecRequest(["python3", "-c", "a = b'x' * (2 * 1024 ** 3)"], null, new Dictionary<string, string>(), TimeSpan.FromSeconds(30), null));

        Assert.Equal(137, hog.ExitCode);
        Assert.False(hog.Result.TimedOut);
        var after = fixture.Driver.ReadUsage(spec.SandboxId)!;
        Assert.True(after.OomKills > before.OomKills);
        Assert.True(after.OomKilled);
        Assert.Equal("alive\n", (await client.RunAsync("echo alive")).Stdout);
    }

    [Fact]
    public async Task Usage_meters_cpu_and_memory()
    {
        var spec = SandboxFixture.Spec();
        var client = await fixture.StartAsync(spec);
        var before = fixture.Driver.ReadUsage(spec.SandboxId)!;

        await client.RunAsync("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done");

        var after = fixture.Driver.ReadUsage(spec.SandboxId)!;
        Assert.True(after.CpuTime - before.CpuTime > TimeSpan.FromMilliseconds(50));
        Assert.InRange(after.MemoryBytes, 1, 512L << 20);
        Assert.Equal(0, after.OomKills);
        Assert.Null(fixture.Driver.ReadUsage("sbx_notrunninghere"));
    }

    [Fact]
    public async Task Cpu_quota_throttles_a_busy_loop()
    {
        var spec = SandboxFixture.Spec(limits: new SandboxLimits(Cpu: 0.2, MemoryMb: 256, Pids: 64));
        var client = await fixture.StartAsync(spec);
        var before = fixture.Driver.ReadUsage(spec.SandboxId)!;

        // Two spinners for one second of wall time at 0.2 cpu: about 0.2 s of cpu, far from 2 s.
        await client.RunAsync("timeout 1 sh -c 'while :; do :; done' & timeout 1 sh -c 'while :; do :; done'; wait");

        var used = fixture.Driver.ReadUsage(spec.SandboxId)!.CpuTime - before.CpuTime;
        Assert.InRange(used, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(600));
    }

    [Fact]
    public async Task A_full_tmp_fails_the_upload_and_leaves_nothing_behind()
    {
        var client = await fixture.StartAsync(SandboxFixture.Spec(limits: new SandboxLimits(Cpu: 1, MemoryMb: 64, Pids: 64)));

        var write = await Assert.ThrowsAsync<SandboxFileException>(() => client.WriteFileAsync("/tmp/huge.bin", new MemoryStream(new byte[100 << 20]), CancellationToken.None));

        Assert.Equal(SandboxFileError.NoSpace, write.Error);
        Assert.Empty(await client.ListAsync("/tmp", CancellationToken.None));
        await client.WriteFileAsync("/tmp/small", new MemoryStream(Encoding.UTF8.GetBytes("ok")), CancellationToken.None);
    }

    /// <summary>Right after a fork bomb the last of its processes may still be dying.</summary>
    private static async Task<ExecOutput> RunWhenPossibleAsync(SandboxAgentClient client, string command)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await client.RunAsync(command);
            }
            catch (SandboxAgentException) when (attempt < 50)
            {
                await Task.Delay(100);
            }
        }
    }
}
