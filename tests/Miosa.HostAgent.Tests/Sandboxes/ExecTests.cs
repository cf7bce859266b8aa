using System.Diagnostics;
using System.Text;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Tests.Sandboxes;

/// <summary>Foreground and background processes in one shared sandbox.</summary>
public sealed class ExecTests(ExecTests.Sandbox sandbox) : IClassFixture<ExecTests.Sandbox>
{
    public sealed class Sandbox : IAsyncLifetime
    {
        public SandboxFixture Fixture { get; } = new();

        public SandboxAgentClient Client { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            await Fixture.InitializeAsync();
            Client = await Fixture.StartAsync(SandboxFixture.Spec(env: new Dictionary<string, string> { ["SPEC_VAR"] = "from-spec", ["TEMPLATE_VAR"] = "overridden" }));
        }

        public Task DisposeAsync() => Fixture.DisposeAsync();
    }

    private SandboxAgentClient Client => sandbox.Client;

    [Fact]
    public async Task Echo_exit_code_and_stderr()
    {
        var run = await Client.RunAsync("echo hello; echo oops >&2; exit 3");

        Assert.Equal("hello\n", run.Stdout);
        Assert.Equal("oops\n", run.Stderr);
        Assert.Equal(3, run.ExitCode);
        Assert.False(run.Result.TimedOut);
        Assert.True(run.Result.Duration > TimeSpan.Zero);
    }

    [Fact]
    public async Task Argv_is_passed_without_a_shell()
    {
        var run = await Client.RunAsync(new ExecRequest(["printf", "%s|", "a b", "$HOME", "'q'"], null, new Dictionary<string, string>(), TimeSpan.FromSeconds(10), null));

        Assert.Equal("a b|$HOME|'q'|", run.Stdout);
    }

    [Fact]
    public async Task Stdin_reaches_the_process()
    {
        var run = await Client.RunAsync("tr a-z A-Z; echo done", stdin: "shout\n");

        Assert.Equal("SHOUT\ndone\n", run.Stdout);
    }

    [Fact]
    public async Task Large_stdin_streams_while_output_flows()
    {
        // 8 MiB in, 8 MiB out through cat: deadlocks if stdin were sent before output is read.
        var input = new byte[8 << 20];
        Random.Shared.NextBytes(input);
        long received = 0;
        var result = await Client.ExecAsync(
            new ExecRequest(["cat"], null, new Dictionary<string, string>(), TimeSpan.FromSeconds(30), input),
            (chunk, _) =>
            {
                received += chunk.Data.Length;
                return ValueTask.CompletedTask;
            },
            CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(input.Length, received);
    }

    [Fact]
    public async Task Environment_merges_sandbox_template_spec_and_request()
    {
        var run = await Client.RunAsync(
            "echo $HOME $USER $TEMPLATE_VAR $SPEC_VAR $REQUEST_VAR; echo $PATH",
            env: new Dictionary<string, string> { ["REQUEST_VAR"] = "from-request", ["SPEC_VAR"] = "request-wins" });

        var lines = run.Stdout.Split('\n');
        Assert.Equal("/workspace user overridden request-wins from-request", lines[0]);
        Assert.Contains("/usr/bin", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cwd_defaults_to_workspace_and_can_be_set()
    {
        Assert.Equal("/workspace\n", (await Client.RunAsync("pwd")).Stdout);
        Assert.Equal("/tmp\n", (await Client.RunAsync("pwd", cwd: "/tmp")).Stdout);

        var missing = await Client.RunAsync("pwd", cwd: "/nope");
        Assert.Equal(126, missing.ExitCode);
        Assert.Contains("/nope", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_command_exits_127_with_a_message()
    {
        var run = await Client.RunAsync(new ExecRequest(["no-such-command"], null, new Dictionary<string, string>(), TimeSpan.FromSeconds(10), null));

        Assert.Equal(127, run.ExitCode);
        Assert.Contains("no-such-command: command not found", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Killed_by_a_signal_is_128_plus_the_signal()
    {
        Assert.Equal(143, (await Client.RunAsync("kill -TERM $$")).ExitCode);
    }

    [Fact]
    public async Task Timeout_kills_the_whole_process_group()
    {
        var stopwatch = Stopwatch.StartNew();
        var run = await Client.RunAsync("sleep 100 & sleep 100", timeout: TimeSpan.FromMilliseconds(500));

        Assert.True(run.Result.TimedOut);
        Assert.Equal(137, run.ExitCode);
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromMilliseconds(450), TimeSpan.FromSeconds(5));
        Assert.DoesNotContain("sleep 100", (await Client.RunAsync("ps -eo args")).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_kills_the_process_group()
    {
        using var cancel = new CancellationTokenSource();
        var started = new TaskCompletionSource();
        var exec = Client.ExecAsync(
            ExecRequest.Shell("sleep 200 & echo started; sleep 200", TimeSpan.FromMinutes(5)),
            (_, _) =>
            {
                started.TrySetResult();
                return ValueTask.CompletedTask;
            },
            cancel.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => exec);
        await WaitUntilAsync(async () => !(await Client.RunAsync("ps -eo args")).Stdout.Contains("sleep 200", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Twenty_megabytes_of_output_stream_through()
    {
        long stdout = 0;
        var chunks = 0;
        var result = await Client.ExecAsync(
            ExecRequest.Shell("head -c 20971520 /dev/zero; echo tail >&2", TimeSpan.FromSeconds(30)),
            (chunk, _) =>
            {
                if (chunk.Stream == ExecStream.Stdout)
                {
                    stdout += chunk.Data.Length;
                    chunks++;
                }

                return ValueTask.CompletedTask;
            },
            CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(20 << 20, stdout);
        Assert.True(chunks > 10, "output arrives in chunks as it is written");
    }

    [Fact]
    public async Task Output_arrives_while_the_process_still_runs()
    {
        var first = new TaskCompletionSource<TimeSpan>();
        var stopwatch = Stopwatch.StartNew();
        var result = await Client.ExecAsync(
            ExecRequest.Shell("echo first; sleep 1; echo second", TimeSpan.FromSeconds(10)),
            (_, _) =>
            {
                first.TrySetResult(stopwatch.Elapsed);
                return ValueTask.CompletedTask;
            },
            CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        Assert.True(await first.Task < TimeSpan.FromMilliseconds(800));
    }

    [Fact]
    public async Task A_long_exec_does_not_block_other_requests()
    {
        var longRun = Client.RunAsync("sleep 3; echo late", timeout: TimeSpan.FromSeconds(10));
        var stopwatch = Stopwatch.StartNew();

        await Client.WriteFileAsync("concurrent.txt", new MemoryStream("x"u8.ToArray()), CancellationToken.None);
        await using (var stream = await Client.OpenReadAsync("concurrent.txt", CancellationToken.None))
        {
            Assert.Equal("x", await new StreamReader(stream).ReadToEndAsync());
        }

        Assert.Equal("quick\n", (await Client.RunAsync("echo quick")).Stdout);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2));
        Assert.Equal("late\n", (await longRun).Stdout);
    }

    [Fact]
    public async Task Children_holding_the_output_hold_the_exec_until_the_timeout()
    {
        var run = await Client.RunAsync("sleep 101 & echo parent done", timeout: TimeSpan.FromMilliseconds(500));

        Assert.Equal("parent done\n", run.Stdout);
        Assert.Equal(0, run.ExitCode);
        Assert.True(run.Result.TimedOut);
        Assert.DoesNotContain("sleep 101", (await Client.RunAsync("ps -eo args")).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Children_with_their_own_output_outlive_the_exec()
    {
        var stopwatch = Stopwatch.StartNew();
        var run = await Client.RunAsync("sleep 102 >/dev/null 2>&1 & echo started");

        Assert.Equal("started\n", run.Stdout);
        Assert.False(run.Result.TimedOut);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5));
        Assert.Contains("sleep 102", (await Client.RunAsync("ps -eo args")).Stdout, StringComparison.Ordinal);
        await Client.RunAsync("pkill -f 'sleep 102'");
    }

    [Fact]
    public async Task Background_processes_are_listed_and_killed()
    {
        var pid = await Client.StartBackgroundAsync(ExecRequest.Shell("echo to-log; sleep 300", TimeSpan.Zero), CancellationToken.None);
        var quick = await Client.StartBackgroundAsync(ExecRequest.Shell("exit 7", TimeSpan.Zero), CancellationToken.None);

        await WaitUntilAsync(async () => (await Client.ListProcessesAsync(CancellationToken.None)).Any(p => p.Pid == quick && !p.Running));
        var processes = await Client.ListProcessesAsync(CancellationToken.None);
        var running = Assert.Single(processes, p => p.Pid == pid);
        Assert.True(running.Running);
        Assert.Null(running.ExitCode);
        Assert.Equal(["/bin/sh", "-c", "echo to-log; sleep 300"], running.Argv);
        Assert.InRange(running.StartedAt, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.Equal(7, Assert.Single(processes, p => p.Pid == quick).ExitCode);
        await WaitUntilAsync(async () => (await Client.RunAsync($"cat {running.LogPath}")).Stdout == "to-log\n");

        Assert.True(await Client.KillProcessAsync(pid, CancellationToken.None));

        await WaitUntilAsync(async () => (await Client.ListProcessesAsync(CancellationToken.None)).Single(p => p.Pid == pid) is { Running: false, ExitCode: 137 });
        Assert.DoesNotContain("sleep 300", (await Client.RunAsync("ps -eo args")).Stdout, StringComparison.Ordinal);
        Assert.False(await Client.KillProcessAsync(1, CancellationToken.None));
        Assert.False(await Client.KillProcessAsync(99999, CancellationToken.None));
    }

    [Fact]
    public async Task Processes_run_as_the_sandbox_user_and_see_only_the_sandbox()
    {
        var run = await Client.RunAsync("id -un; id -u; hostname; ps -eo pid,args --no-headers");
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal("user", lines[0]);
        Assert.Equal("1000", lines[1]);
        Assert.Equal(JailSandboxDriver.HostName, lines[2]);
        Assert.Contains(lines, l => l.Trim().StartsWith("1 /run/miosa/init", StringComparison.Ordinal));
        // init, the handler of this exec, sh and ps: nothing of the host.
        Assert.All(lines.Skip(3), l => Assert.Matches(@"^\s*\d+ (/run/miosa/init|/bin/sh -c id|ps -eo)", l));
    }

    [Fact]
    public async Task Unicode_output_and_arguments_survive()
    {
        var run = await Client.RunAsync(new ExecRequest(["printf", "%s", "héllo wörld ✓"], null, new Dictionary<string, string>(), TimeSpan.FromSeconds(5), null));

        Assert.Equal("héllo wörld ✓", run.Stdout);
        Assert.Equal(Encoding.UTF8.GetByteCount("héllo wörld ✓"), Encoding.UTF8.GetByteCount(run.Stdout));
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(20);
        }
    }
}
