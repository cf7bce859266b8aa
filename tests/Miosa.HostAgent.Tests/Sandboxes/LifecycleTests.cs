using System.Diagnostics;
using System.Text;
using Miosa.HostAgent.Sandboxes;
using Xunit.Abstractions;

namespace Miosa.HostAgent.Tests.Sandboxes;

public sealed class LifecycleTests(SandboxFixture fixture, ITestOutputHelper output) : IClassFixture<SandboxFixture>
{
    private static CancellationToken None => CancellationToken.None;

    [Fact]
    public async Task Start_answers_when_the_sandbox_is_ready_and_is_idempotent()
    {
        var spec = SandboxFixture.Spec();
        var stopwatch = Stopwatch.StartNew();
        var sandbox = await fixture.Driver.StartAsync(spec, None);
        var first = stopwatch.Elapsed;

        Assert.Equal("ready\n", (await new SandboxAgentClient(sandbox.AgentSocket).RunAsync("echo ready")).Stdout);
        Assert.Equal(sandbox, await fixture.Driver.StartAsync(spec, None));
        Assert.Equal(sandbox, fixture.Driver.Find(spec.SandboxId));
        Assert.Equal("jail", fixture.Driver.Name);

        var timings = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            stopwatch.Restart();
            await fixture.Driver.StartAsync(SandboxFixture.Spec(), None);
            timings.Add(stopwatch.Elapsed.TotalMilliseconds);
        }

        output.WriteLine($"StartAsync: first {first.TotalMilliseconds:F1} ms, then {string.Join(", ", timings.Select(t => t.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))} ms");
    }

    [Fact]
    public async Task Workspace_survives_stop_and_start_but_processes_do_not()
    {
        var spec = SandboxFixture.Spec();
        var client = await fixture.StartAsync(spec);
        await client.WriteFileAsync("keep.txt", new MemoryStream(Encoding.UTF8.GetBytes("kept")), None);
        await client.StartBackgroundAsync(ExecRequest.Shell("exec sleep 300", TimeSpan.Zero), None);
        var hostPid = fixture.Driver.Find(spec.SandboxId)!.HostPid;

        await fixture.Driver.StopAsync(spec.SandboxId, None);

        Assert.Null(fixture.Driver.Find(spec.SandboxId));
        Assert.Null(fixture.Driver.ReadUsage(spec.SandboxId));
        Assert.Null(fixture.Driver.Cgroups.Open(spec.SandboxId));
        Assert.False(File.Exists($"/proc/{hostPid}/status") && File.ReadAllText($"/proc/{hostPid}/status").Contains("bwrap", StringComparison.Ordinal));
        await Assert.ThrowsAsync<SandboxAgentException>(() => client.RunAsync("true"));

        client = await fixture.StartAsync(spec);
        Assert.Equal("kept", (await client.RunAsync("cat keep.txt")).Stdout);
        Assert.DoesNotContain("sleep 300", (await client.RunAsync("ps -eo args")).Stdout, StringComparison.Ordinal);
        Assert.Empty(await client.ListProcessesAsync(None));
        Assert.Equal("user\n", (await client.RunAsync("stat -c %U keep.txt")).Stdout);
    }

    [Fact]
    public async Task Destroy_removes_every_trace()
    {
        var spec = SandboxFixture.Spec();
        var client = await fixture.StartAsync(spec);
        await client.WriteFileAsync("data/file.txt", new MemoryStream([1, 2, 3]), None);
        await client.RunAsync("ln -s /etc etc-link; mkdir locked; touch locked/f; chmod 000 locked");
        var workspace = fixture.Driver.WorkspacePath(spec.SandboxId);

        await fixture.Driver.DestroyAsync(spec.SandboxId, None);

        Assert.False(Directory.Exists(Path.GetDirectoryName(workspace)));
        Assert.Null(fixture.Driver.Find(spec.SandboxId));
        Assert.Null(fixture.Driver.Cgroups.Open(spec.SandboxId));
        Assert.True(File.Exists("/etc/hostname") || Directory.Exists("/etc"));
        await fixture.Driver.DestroyAsync(spec.SandboxId, None);
        await fixture.Driver.StopAsync(spec.SandboxId, None);
    }

    [Fact]
    public async Task A_sandbox_whose_processes_die_is_reported_and_cleaned_up()
    {
        var spec = SandboxFixture.Spec();
        await fixture.StartAsync(spec);
        var exited = new TaskCompletionSource<string>();
        fixture.Driver.Exited += id =>
        {
            if (id == spec.SandboxId)
            {
                exited.TrySetResult(id);
            }
        };

        Process.GetProcessById(fixture.Driver.Find(spec.SandboxId)!.HostPid).Kill();

        Assert.Equal(spec.SandboxId, await exited.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Null(fixture.Driver.Find(spec.SandboxId));
        Assert.Null(fixture.Driver.Cgroups.Open(spec.SandboxId));
        var client = await fixture.StartAsync(spec);
        Assert.Equal("back\n", (await client.RunAsync("echo back")).Stdout);
    }

    [Fact]
    public async Task A_restarted_node_removes_stale_cgroups_and_reuses_workspaces()
    {
        var spec = SandboxFixture.Spec();
        var client = await fixture.StartAsync(spec);
        await client.WriteFileAsync("before-restart.txt", new MemoryStream([42]), None);
        await fixture.Driver.StopAsync(spec.SandboxId, None);
        // As after kill -9 of the node: its sandboxes died with it, their cgroups (here with a
        // straggler in them) did not.
        var stale = await fixture.Driver.Cgroups.CreateAsync(spec.SandboxId, SandboxLimits.Default, None);
        using var straggler = Process.Start("sleep", "300");
        foreach (var procs in stale.ProcsFiles)
        {
            await File.WriteAllTextAsync(procs, straggler.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        await using var restarted = fixture.NewDriver();

        Assert.Null(restarted.Cgroups.Open(spec.SandboxId));
        await straggler.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        var sandbox = await restarted.StartAsync(spec, None);
        Assert.Equal("before-restart.txt\n", (await new SandboxAgentClient(sandbox.AgentSocket).RunAsync("ls")).Stdout);
    }

    [Fact]
    public async Task Abandoned_empty_cgroups_are_removed_but_live_ones_stay()
    {
        var live = SandboxFixture.Spec();
        await fixture.StartAsync(live);
        await fixture.Driver.Cgroups.CreateAsync("sbx_abandoned" + Guid.NewGuid().ToString("N")[..8], SandboxLimits.Default, None);

        Assert.True(fixture.Driver.Cgroups.RemoveAbandoned(TimeSpan.Zero) >= 1);

        Assert.NotNull(fixture.Driver.Cgroups.Open(live.SandboxId));
        Assert.Equal("alive\n", (await new SandboxAgentClient(fixture.Driver.Find(live.SandboxId)!.AgentSocket).RunAsync("echo alive")).Stdout);
    }

    [Fact]
    public async Task A_sandbox_outlives_the_thread_that_started_it()
    {
        // PR_SET_PDEATHSIG (bwrap --die-with-parent) follows the forking thread, not the process.
        var spec = SandboxFixture.Spec();
        var thread = new Thread(() => fixture.Driver.StartAsync(spec, None).GetAwaiter().GetResult());
        thread.Start();
        thread.Join();
        await Task.Delay(300);

        var sandbox = fixture.Driver.Find(spec.SandboxId);
        Assert.NotNull(sandbox);
        Assert.Equal("alive\n", (await new SandboxAgentClient(sandbox.AgentSocket).RunAsync("echo alive")).Stdout);
    }

    [Fact]
    public async Task Suspend_freezes_and_resume_thaws()
    {
        var spec = SandboxFixture.Spec();
        var client = await fixture.StartAsync(spec);

        Assert.True(fixture.Driver.Suspend(spec.SandboxId));
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.RunAsync("echo frozen", ct: timeout.Token));
        }

        Assert.True(fixture.Driver.Resume(spec.SandboxId));
        Assert.Equal("thawed\n", (await client.RunAsync("echo thawed")).Stdout);
        await fixture.Driver.StopAsync(spec.SandboxId, None);
    }

    [Fact]
    public async Task A_frozen_sandbox_can_be_stopped()
    {
        var spec = SandboxFixture.Spec();
        await fixture.StartAsync(spec);
        fixture.Driver.Suspend(spec.SandboxId);

        await fixture.Driver.StopAsync(spec.SandboxId, None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Null(fixture.Driver.Cgroups.Open(spec.SandboxId));
    }

    [Fact]
    public async Task A_sandbox_that_cannot_start_fails_with_the_reason_and_leaves_no_cgroup()
    {
        var root = Path.Combine(Path.GetTempPath(), "miosa-tests-" + Guid.NewGuid().ToString("N")[..12]);
        var parent = "miosa-test-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            var broken = new JailSandboxDriver(root, new JailSandboxOptions { Bwrap = "/usr/bin/false", CgroupParent = parent });
            var spec = SandboxFixture.Spec();

            var failure = await Assert.ThrowsAsync<SandboxStartException>(() => broken.StartAsync(spec, None));

            Assert.Equal(spec.SandboxId, failure.SandboxId);
            Assert.Contains("exit code 1", failure.Message, StringComparison.Ordinal);
            Assert.Null(broken.Find(spec.SandboxId));
            Assert.Null(broken.Cgroups.Open(spec.SandboxId));
        }
        finally
        {
            foreach (var directory in Directory.GetDirectories("/sys/fs/cgroup").Select(d => Path.Combine(d, parent)).Where(Directory.Exists))
            {
                Directory.Delete(directory);
            }

            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Bad_specs_are_refused_before_anything_starts()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Driver.StartAsync(SandboxFixture.Spec(id: "../escape"), None));
        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Driver.StartAsync(SandboxFixture.Spec(env: new Dictionary<string, string> { ["BAD=NAME"] = "x" }), None));
        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Driver.StartAsync(SandboxFixture.Spec(limits: new SandboxLimits(1, 0, 10)), None));
    }

    [Fact]
    public async Task Idle_agent_is_small()
    {
        var spec = SandboxFixture.Spec();
        await fixture.StartAsync(spec);
        var cgroup = fixture.Driver.Cgroups.Open(spec.SandboxId)!;

        foreach (var pid in cgroup.ReadPids())
        {
            var status = File.ReadAllLines($"/proc/{pid}/status");
            string Field(string name) => status.First(l => l.StartsWith(name + ":", StringComparison.Ordinal)).Split(':')[1].Trim();
            output.WriteLine($"{pid} {Field("Name")}: VmRSS {Field("VmRSS")}, RssAnon {Field("RssAnon")}, RssFile {Field("RssFile")}");
            if (Field("Name") == "miosa-init" || Field("Name") == "init")
            {
                Assert.True(long.Parse(Field("RssAnon").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) < 1024);
            }
        }

        output.WriteLine($"cgroup memory: {fixture.Driver.ReadUsage(spec.SandboxId)!.MemoryBytes / 1024} KiB");
    }
}
